// Renders the service's own OpenAPI document; a separate file because the page's CSP forbids inline scripts.
window.addEventListener("load", () => {
  window.ui = window.SwaggerUIBundle({
    url: new URL("../openapi.json", window.location.href.replace(/\/docs\/?.*$/, "/docs/")).href,
    dom_id: "#swagger-ui",
    deepLinking: true,
  });
});
