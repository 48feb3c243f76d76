import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { verifyToken } from "../../src/http/auth.js";

const run = promisify(execFile);
const SECRET = "a-secret-for-the-token-script-test";

async function token(args: string[], env: NodeJS.ProcessEnv) {
  const { PATH, HOME } = process.env;
  return run(process.execPath, ["--import", "tsx", "scripts/token.ts", ...args], { env: { PATH, HOME, ...env } });
}

describe("scripts/token.ts", () => {
  it("prints a token the server accepts", async () => {
    const { stdout, stderr } = await token(["--sub", "alice", "--role", "customer", "--ttl", "60"], { AUTH_SECRET: SECRET });
    expect(stderr).toBe("");
    await expect(verifyToken(SECRET, stdout.trim())).resolves.toEqual({ id: "alice", role: "customer" });
  });

  it("warns on stderr when it signs with the development secret", async () => {
    const { stdout, stderr } = await token(["--sub", "bob", "--role", "seller"], {});
    expect(stderr).toContain("development secret");
    expect(stdout.trim().split(".")).toHaveLength(3);
  });

  it("refuses an unknown role", async () => {
    await expect(token(["--sub", "bob", "--role", "root"], { AUTH_SECRET: SECRET })).rejects.toMatchObject({ code: 2 });
  });
});
