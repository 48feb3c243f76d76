// The stream browser: a client of the server's own HTTP API (the AtomPub feeds EventStoreDB serves),
// plain JavaScript with no build step and nothing fetched from elsewhere. Every value shown comes from
// events, which are untrusted: text only ever reaches the page through textContent, never as HTML.
"use strict";

const ATOM = "application/vnd.eventstore.atom+json";
const PAGE_SIZE = 20;
const RECENT_SCAN = 500;
const CORRELATION_SCAN = 5000;
const LONG_POLL_SECONDS = 10;

const view = document.getElementById("view");
/** Bumped on every navigation, so that a page left behind stops polling and drops late answers. */
let generation = 0;

/** Builds an element; strings become text nodes, so nothing an event holds is ever parsed as markup. */
const h = (tag, attributes, ...children) => {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
};

const show = (...nodes) => view.replaceChildren(...nodes);

const streamHash = (stream) => `#/streams/${encodeURIComponent(stream)}`;
const eventHash = (stream, number) => `${streamHash(stream)}/${number}`;
const streamLink = (stream) => h("a", { href: streamHash(stream), class: "stream" }, stream);

class HttpError extends Error {
  constructor(status, text) {
    super(`${status} ${text}`);
    this.status = status;
  }
}

const getJson = async (path, headers = {}) => {
  const response = await fetch(path, { headers: { Accept: ATOM, ...headers } });
  if (!response.ok) throw new HttpError(response.status, response.statusText);
  return { body: await response.json(), headers: response.headers };
};

/** A feed link's path (`/streams/…`), from the absolute URI the server wrote. */
const linkOf = (feed, relation) => {
  const link = (feed.links ?? []).find((each) => each.relation === relation);
  return link ? new URL(link.uri).pathname : undefined;
};

const time = (text) => {
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? text : date.toISOString().replace("T", " ").replace("Z", " UTC");
};

const pretty = (text) => {
  if (text === undefined || text === null || text === "") return "";
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
};

const parseObject = (text) => {
  try {
    const value = JSON.parse(text);
    return value && typeof value === "object" && !Array.isArray(value) ? value : {};
  } catch {
    return {};
  }
};

const failure = (error, what) =>
  h(
    "p",
    { class: "error" },
    error instanceof HttpError && error.status === 404 ? `${what} was not found.` : `${what} could not be read: ${error.message}`,
  );

// ---------------------------------------------------------------------------------------------
// home: recently created and recently changed streams

/** Streams as `$all` shows them, newest first; `$streams` (a standard projection) when it runs. */
const recentStreams = async () => {
  // User streams only: the standard projections' links (`$ce-…`, `$bc-…`) would crowd them out of the window.
  const userStreams = `context=streamid&type=regex&data=${encodeURIComponent("^[^$]")}`;
  const { body } = await getJson(`/streams/%24all/filtered/head/backward/${RECENT_SCAN}?${userStreams}&embed=rich`, {
    "ES-ResolveLinkTos": "false",
  });
  const changed = new Map();
  const created = [];
  for (const entry of body.entries ?? []) {
    const stream = entry.streamId;
    if (!stream) continue;
    if (!changed.has(stream)) changed.set(stream, entry);
    if (entry.eventNumber === 0 && !stream.startsWith("$")) created.push(entry);
  }
  let createdList = created;
  try {
    const streams = await getJson(`/streams/%24streams/head/backward/50?embed=rich`);
    // Links resolved (the API's default): each entry is the stream's first event itself.
    createdList = (streams.body.entries ?? []).map((entry) => ({
      streamId: entry.streamId,
      updated: entry.updated,
      eventType: entry.eventType,
    }));
  } catch {
    // No `$streams` projection here: the streams whose first event is in the recent part of `$all` stand in.
  }
  return { changed: [...changed.values()], created: createdList };
};

const streamTable = (entries, id, eventTitle) =>
  h(
    "table",
    { id, class: "list" },
    h("thead", null, h("tr", null, h("th", null, "Stream"), h("th", null, eventTitle), h("th", null, "Time"))),
    h(
      "tbody",
      null,
      entries.map((entry) =>
        h(
          "tr",
          null,
          h("td", null, streamLink(entry.streamId)),
          h("td", { class: "type" }, entry.eventType ?? ""),
          h("td", { class: "time" }, time(entry.updated)),
        ),
      ),
    ),
  );

const homePage = async (current) => {
  show(h("h1", null, "Streams"), h("p", { class: "muted" }, "Loading…"));
  let recent;
  try {
    recent = await recentStreams();
  } catch (error) {
    return show(h("h1", null, "Streams"), failure(error, "$all"));
  }
  if (current !== generation) return;
  const hideSystem = (entries) => entries.filter((entry) => !entry.streamId.startsWith("$"));
  show(
    h("h1", null, "Streams"),
    h(
      "div",
      { class: "columns" },
      h(
        "section",
        null,
        h("h2", null, "Recently created streams"),
        streamTable(recent.created.slice(0, 50), "recently-created", "First event"),
      ),
      h(
        "section",
        null,
        h("h2", null, "Recently changed streams"),
        streamTable(hideSystem(recent.changed).slice(0, 50), "recently-changed", "Last event"),
      ),
    ),
    h("p", null, h("a", { href: "#/all" }, "Browse $all"), " · ", h("a", { href: "#/subscriptions" }, "Persistent subscriptions")),
  );
};

// ---------------------------------------------------------------------------------------------
// a stream: events newest first, paged, live at the head

const eventRows = (entries) =>
  entries.map((entry) => {
    const target = /^(\d+)@(.*)$/.exec(entry.title ?? "");
    const stream = target ? target[2] : entry.streamId;
    const number = target ? Number(target[1]) : entry.eventNumber;
    return h(
      "tr",
      { "data-number": String(entry.positionEventNumber ?? number) },
      h("td", { class: "number" }, String(entry.positionEventNumber ?? number)),
      h("td", null, h("a", { href: eventHash(stream, number), class: "event" }, entry.title ?? `${number}@${stream}`)),
      h("td", { class: "type" }, entry.eventType ?? entry.summary ?? ""),
      h("td", { class: "time" }, time(entry.updated)),
    );
  });

const pagerHash = (stream, path) => {
  if (!path) return undefined;
  const prefix = `/streams/${encodeURIComponent(stream)}/`;
  const rest = path.startsWith(prefix) ? path.slice(prefix.length) : path.split("/").slice(3).join("/");
  return `${streamHash(stream)}?page=${encodeURIComponent(rest)}`;
};

const pager = (stream, feed, atHead) => {
  const item = (relation, label) => {
    // At the head nothing is newer yet: the page follows new events by itself.
    const target = atHead && relation === "previous" ? undefined : pagerHash(stream, linkOf(feed, relation));
    return target ? h("a", { href: target, class: `pager-${relation}` }, label) : h("span", { class: `pager-${relation} disabled` }, label);
  };
  // EventStoreDB's names: "first" is the newest page, "last" the oldest; "previous" goes newer, "next" older.
  return h(
    "nav",
    { class: "pager" },
    item("first", "⇤ newest"),
    item("previous", "← newer"),
    item("next", "older →"),
    item("last", "oldest ⇥"),
  );
};

const correlationFallback = async (stream, current) => {
  const id = stream.slice("$bc-".length);
  const matches = [];
  let path = `/streams/%24all/head/backward/500?embed=body`;
  let scanned = 0;
  while (path && scanned < CORRELATION_SCAN) {
    const { body } = await getJson(path, { "ES-ResolveLinkTos": "false" });
    const entries = body.entries ?? [];
    for (const entry of entries) {
      if (parseObject(entry.metaData ?? "").$correlationId === id) matches.push(entry);
    }
    scanned += entries.length;
    path = entries.length > 0 ? linkOf(body, "next") : undefined;
  }
  if (current !== generation) return;
  show(
    h("h1", null, "Stream ", h("span", { class: "stream-name" }, stream)),
    h(
      "p",
      { class: "notice" },
      `This stream does not exist: the standard projections do not run here. Events whose $correlationId is ${id}, found in the last ${scanned} events of $all:`,
    ),
    h(
      "table",
      { class: "events list", id: "events" },
      h("thead", null, h("tr", null, h("th", null, "#"), h("th", null, "Event"), h("th", null, "Type"), h("th", null, "Time"))),
      h("tbody", null, eventRows(matches)),
    ),
  );
};

const streamPage = async (current, stream, page) => {
  const path = `/streams/${encodeURIComponent(stream)}${page ? `/${page}` : `/head/backward/${PAGE_SIZE}`}?embed=rich`;
  let feed;
  try {
    feed = (await getJson(path)).body;
  } catch (error) {
    if (current !== generation) return;
    if (error instanceof HttpError && error.status === 404 && stream.startsWith("$bc-")) return correlationFallback(stream, current);
    return show(h("h1", null, "Stream ", h("span", { class: "stream-name" }, stream)), failure(error, `Stream ${stream}`));
  }
  if (current !== generation) return;
  const atHead = !page || page.startsWith("head/") || feed.headOfStream === true;
  const status = h("span", { class: "live", id: "live" }, atHead ? "live: new events appear here" : "");
  const body = h("tbody", null, eventRows(feed.entries ?? []));
  show(
    h("h1", null, "Stream ", h("span", { class: "stream-name" }, stream)),
    h("p", null, status),
    pager(stream, feed, atHead),
    h(
      "table",
      { class: "events list", id: "events" },
      h("thead", null, h("tr", null, h("th", null, "#"), h("th", null, "Event"), h("th", null, "Type"), h("th", null, "Time"))),
      body,
    ),
    pager(stream, feed, atHead),
  );
  if (atHead) void follow(current, stream, linkOf(feed, "previous"), body);
};

/** Long-polls the page after the head (`ES-LongPoll`) and puts what arrives on top of the table. */
const follow = async (current, stream, previous, body) => {
  let path = previous;
  while (path && current === generation) {
    try {
      const { body: feed } = await getJson(`${path}?embed=rich`, { "ES-LongPoll": String(LONG_POLL_SECONDS) });
      if (current !== generation) return;
      const entries = feed.entries ?? [];
      if (entries.length > 0) {
        body.prepend(...eventRows(entries));
        path = linkOf(feed, "previous") ?? path;
      }
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }
};

// ---------------------------------------------------------------------------------------------
// one event

const findEventById = async (eventId, places) => {
  for (const path of places) {
    try {
      const { body } = await getJson(path);
      const entry = (body.entries ?? []).find((each) => each.eventId === eventId);
      if (entry) return entry;
    } catch {
      // Not there (or that stream does not exist): look in the next place.
    }
  }
  return undefined;
};

const field = (label, ...value) => [h("dt", null, label), h("dd", null, ...value)];

const eventPage = async (current, stream, number) => {
  let entry;
  let position;
  try {
    const answer = await getJson(`/streams/${encodeURIComponent(stream)}/${number}?embed=tryharder`);
    entry = answer.body;
    position = answer.headers.get("ES-Position");
  } catch (error) {
    if (current !== generation) return;
    return show(h("h1", null, `${number}@${stream}`), failure(error, `Event ${number}@${stream}`));
  }
  if (current !== generation) return;
  const metadata = parseObject(entry.metaData ?? "");
  const correlationId = typeof metadata.$correlationId === "string" ? metadata.$correlationId : undefined;
  const causationId = typeof metadata.$causationId === "string" ? metadata.$causationId : undefined;
  const causation = h("span", { id: "causation" }, causationId ? `${causationId} (looking…)` : "—");
  show(
    h("h1", null, entry.title ?? `${number}@${stream}`),
    h(
      "dl",
      { class: "event-fields" },
      field("Stream", streamLink(entry.streamId ?? stream)),
      field("Number", String(entry.eventNumber ?? number)),
      field("Position", position ?? "—"),
      field("Type", h("span", { id: "event-type" }, entry.eventType ?? entry.summary ?? "")),
      field("Created", time(entry.updated)),
      field("Event id", entry.eventId ?? ""),
      field(
        "Correlation",
        correlationId ? h("a", { href: streamHash(`$bc-${correlationId}`), id: "correlation" }, `$bc-${correlationId}`) : "—",
      ),
      field("Causation", causation),
    ),
    h("nav", { class: "pager" }, h("a", { href: streamHash(entry.streamId ?? stream) }, "back to the stream")),
    h("h2", null, "Data"),
    h("pre", { class: "json", id: "event-data" }, pretty(entry.data)),
    h("h2", null, "Metadata"),
    h("pre", { class: "json", id: "event-metadata" }, pretty(entry.metaData)),
  );
  if (!causationId) return;
  const places = [
    ...(correlationId ? [`/streams/${encodeURIComponent(`$bc-${correlationId}`)}/head/backward/500?embed=rich`] : []),
    `/streams/${encodeURIComponent(entry.streamId ?? stream)}/head/backward/500?embed=rich`,
    `/streams/%24all/head/backward/${CORRELATION_SCAN}?embed=rich`,
  ];
  const cause = await findEventById(causationId, places);
  if (current !== generation) return;
  causation.replaceChildren(
    cause
      ? h("a", { href: eventHash(cause.streamId, cause.eventNumber) }, `${cause.eventNumber}@${cause.streamId} (${cause.eventType})`)
      : `${causationId} (not an event found in the store: a command or request id)`,
  );
};

// ---------------------------------------------------------------------------------------------
// $all, with a filter

const allPage = async (current, params) => {
  const on = params.get("on") === "type" ? "type" : "stream";
  const prefix = params.get("prefix") ?? "";
  const page = params.get("page");
  const filterQuery = prefix ? `context=${on === "type" ? "eventtype" : "streamid"}&type=prefix&data=${encodeURIComponent(prefix)}` : "";
  const base = prefix ? "/streams/%24all/filtered" : "/streams/%24all";
  const path = `${base}/${page ?? `head/backward/${PAGE_SIZE}`}?embed=rich${filterQuery ? `&${filterQuery}` : ""}`;
  const form = h(
    "form",
    { class: "filter", id: "all-filter" },
    h(
      "select",
      { name: "on", "aria-label": "Filter on" },
      h("option", { value: "stream", selected: on === "stream" }, "stream prefix"),
      h("option", { value: "type", selected: on === "type" }, "event type prefix"),
    ),
    h("input", { name: "prefix", value: prefix, placeholder: "e.g. reservation- or UnitsHeld", "aria-label": "Prefix" }),
    h("button", { type: "submit" }, "Filter"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    location.hash = `#/all?on=${encodeURIComponent(String(data.get("on")))}&prefix=${encodeURIComponent(String(data.get("prefix")))}`;
  });
  let feed;
  try {
    feed = (await getJson(path, { "ES-ResolveLinkTos": "false" })).body;
  } catch (error) {
    if (current !== generation) return;
    return show(h("h1", null, "$all"), form, failure(error, "$all"));
  }
  if (current !== generation) return;
  const pageLink = (relation, label) => {
    const target = linkOf(feed, relation);
    const rest = target
      ? target
          .split("/")
          .slice(prefix ? 4 : 3)
          .join("/")
      : undefined;
    return rest
      ? h(
          "a",
          { href: `#/all?on=${on}&prefix=${encodeURIComponent(prefix)}&page=${encodeURIComponent(rest)}`, class: `pager-${relation}` },
          label,
        )
      : h("span", { class: `pager-${relation} disabled` }, label);
  };
  const nav = () =>
    h(
      "nav",
      { class: "pager" },
      pageLink("first", "⇤ newest"),
      pageLink("previous", "← newer"),
      pageLink("next", "older →"),
      pageLink("last", "oldest ⇥"),
    );
  show(
    h("h1", null, "$all"),
    form,
    nav(),
    h(
      "table",
      { class: "events list", id: "events" },
      h("thead", null, h("tr", null, h("th", null, "Event"), h("th", null, "Stream"), h("th", null, "Type"), h("th", null, "Time"))),
      h(
        "tbody",
        null,
        (feed.entries ?? []).map((entry) =>
          h(
            "tr",
            null,
            h("td", null, h("a", { href: eventHash(entry.streamId, entry.eventNumber), class: "event" }, entry.title)),
            h("td", null, streamLink(entry.streamId)),
            h("td", { class: "type" }, entry.eventType),
            h("td", { class: "time" }, time(entry.updated)),
          ),
        ),
      ),
    ),
    nav(),
  );
};

// ---------------------------------------------------------------------------------------------
// persistent subscriptions

const subscriptionsPage = async (current) => {
  let groups;
  try {
    const list = (await getJson("/subscriptions", { Accept: "application/json" })).body;
    groups = await Promise.all(
      list.map(async (summary) => {
        const detail = (summary.links ?? []).find((link) => link.rel === "detail");
        try {
          return detail ? (await getJson(new URL(detail.href).pathname, { Accept: "application/json" })).body : summary;
        } catch {
          return summary;
        }
      }),
    );
  } catch (error) {
    if (current !== generation) return;
    return show(h("h1", null, "Persistent subscriptions"), failure(error, "The subscription list"));
  }
  if (current !== generation) return;
  const message = h("p", { id: "replay-result", class: "muted" });
  const replay = async (group) => {
    const response = await fetch(
      `/subscriptions/${encodeURIComponent(group.eventStreamId)}/${encodeURIComponent(group.groupName)}/replayParked`,
      {
        method: "POST",
        headers: { Accept: "application/json" },
      },
    );
    message.textContent = response.ok
      ? `Parked messages of ${group.eventStreamId}::${group.groupName} are being replayed.`
      : `Replay failed: ${response.status} ${response.statusText}`;
    setTimeout(() => {
      if (current === generation) void subscriptionsPage(current);
    }, 500);
  };
  show(
    h("h1", null, "Persistent subscriptions"),
    message,
    groups.length === 0
      ? h("p", { class: "muted" }, "No persistent subscriptions.")
      : h(
          "table",
          { class: "list", id: "subscriptions" },
          h(
            "thead",
            null,
            h(
              "tr",
              null,
              ["Source", "Group", "Status", "Last checkpointed", "Last known", "In flight", "Parked", "Connections", ""].map((title) =>
                h("th", null, title),
              ),
            ),
          ),
          h(
            "tbody",
            null,
            groups.map((group) => {
              const parkedStream = `$persistentsubscription-${group.eventStreamId}::${group.groupName}-parked`;
              const connections = (group.connections ?? [])
                .map((connection) => `${connection.connectionName || connection.from} (${connection.inFlightMessages} in flight)`)
                .join(", ");
              return h(
                "tr",
                { "data-group": group.groupName },
                h("td", null, group.eventStreamId === "$all" ? h("a", { href: "#/all" }, "$all") : streamLink(group.eventStreamId)),
                h("td", null, group.groupName),
                h("td", null, group.status),
                h("td", null, group.lastCheckpointedEventPosition ?? String(group.lastProcessedEventNumber)),
                h("td", null, group.lastKnownEventPosition ?? String(group.lastKnownEventNumber)),
                h("td", { class: "number" }, String(group.totalInFlightMessages ?? 0)),
                h("td", { class: "number parked" }, String(group.parkedMessageCount ?? "?")),
                h("td", null, `${(group.connections ?? []).length}${connections ? `: ${connections}` : ""}`),
                h(
                  "td",
                  null,
                  h("a", { href: streamHash(parkedStream) }, "parked messages"),
                  " ",
                  h("button", { type: "button", class: "replay", onclick: () => void replay(group) }, "Replay parked"),
                ),
              );
            }),
          ),
        ),
  );
};

// ---------------------------------------------------------------------------------------------
// routing

const route = () => {
  generation += 1;
  const current = generation;
  const hash = location.hash.replace(/^#/, "") || "/";
  const [pathPart, queryPart] = hash.split("?");
  const params = new URLSearchParams(queryPart ?? "");
  const parts = pathPart
    .split("/")
    .slice(1)
    .map((part) => decodeURIComponent(part));
  for (const link of document.querySelectorAll("[data-nav]")) {
    link.classList.toggle("active", link.getAttribute("data-nav") === (parts[0] || "streams"));
  }
  window.scrollTo(0, 0);
  if (parts[0] === "streams" && parts[1] !== undefined && parts[2] !== undefined) return eventPage(current, parts[1], parts[2]);
  if (parts[0] === "streams" && parts[1] !== undefined) return streamPage(current, parts[1], params.get("page"));
  if (parts[0] === "all") return allPage(current, params);
  if (parts[0] === "subscriptions") return subscriptionsPage(current);
  return homePage(current);
};

document.getElementById("open-stream").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = document.getElementById("stream-name");
  const name = input.value.trim();
  if (name) location.hash = streamHash(name);
});
window.addEventListener("hashchange", () => void route());
void route();
