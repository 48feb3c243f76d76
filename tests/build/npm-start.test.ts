/**
 * `npm start` as a user runs it: it compiles with tsc, then runs the compiled service as npm's own
 * child (no shell, no TypeScript loader in between), so that SIGTERM to the npm process the user
 * holds (a process manager, `kill`, Ctrl-C) reaches the service, which stops and frees its port.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { repoRoot } from "../concurrency/processes.js";
import { deleteKeysUnder, SHARED_REDIS_URL, uniqueKeyRoot } from "../scenarios/harness.js";

const LISTENING = "reservations API listening on";
// A fresh checkout compiles everything first; on a busy machine that takes a while.
const START_TIMEOUT_MS = 240_000;

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Linux only: the parent pid and the command line of a process, from /proc. */
const procInfo = (pid: number): { ppid: number; argv: string[] } | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
    return { ppid, argv };
  } catch {
    return undefined;
  }
};

describe("npm start", () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), "npm-start-"));
  const keyRoot = uniqueKeyRoot("npm-start");
  afterAll(async () => {
    rmSync(dataDir, { recursive: true, force: true });
    await deleteKeysUnder(SHARED_REDIS_URL, keyRoot).catch(() => 0);
  });

  it(
    "runs the compiled service as npm's child and stops it when npm gets SIGTERM",
    async () => {
      const npm = spawn("npm", ["start", "--silent"], {
        cwd: repoRoot,
        stdio: ["ignore", "pipe", "pipe"],
        env: {
          ...process.env,
          PORT: "0",
          EMBEDDED_EVENTSTORE_PORT: "0",
          DATA_DIR: dataDir,
          READ_MODEL_KEY_ROOT: keyRoot,
          LOG_LEVEL: "info",
          FORCE_COLOR: "0",
        },
      });
      // npm re-raises the signal on itself once its child is gone, so it exits by signal, not code.
      const npmExited = new Promise<string>((resolve) => npm.once("exit", (code, signal) => resolve(`code ${code}, signal ${signal}`)));
      let output = "";
      let stderr = "";
      npm.stderr.setEncoding("utf8").on("data", (chunk: string) => {
        stderr = (stderr + chunk).slice(-8000);
      });
      let servicePid: number | undefined;
      try {
        const started = await new Promise<{ url: string; pid: number }>((resolve, reject) => {
          const timer = setTimeout(
            () => reject(new Error(`no "${LISTENING}" line within ${START_TIMEOUT_MS} ms\n${output}\n${stderr}`)),
            START_TIMEOUT_MS,
          );
          npm.stdout.setEncoding("utf8").on("data", (chunk: string) => {
            output += chunk;
            for (const line of output.split("\n")) {
              if (!line.includes(LISTENING)) continue;
              const parsed = JSON.parse(line) as { url?: unknown; pid?: unknown };
              if (typeof parsed.url === "string" && typeof parsed.pid === "number") {
                clearTimeout(timer);
                resolve({ url: parsed.url, pid: parsed.pid });
              }
            }
          });
          void npmExited.then((how) => {
            clearTimeout(timer);
            reject(new Error(`npm start exited (${how}) before the service listened\n${output}\n${stderr}`));
          });
        });
        servicePid = started.pid;
        expect((await fetch(`${started.url}/health/live`)).status).toBe(200);

        const info = procInfo(started.pid);
        if (info !== undefined) {
          // The service is npm's direct child: no shell or loader that could swallow the signal.
          expect(info.ppid).toBe(npm.pid);
          expect(info.argv.at(-1)).toBe("dist/src/main.js");
          expect(info.argv.filter((arg) => arg.includes("tsx"))).toEqual([]);
        }

        npm.kill("SIGTERM");
        await npmExited;
        expect(isAlive(started.pid)).toBe(false);
        await expect(fetch(`${started.url}/health/live`)).rejects.toThrow();
      } finally {
        if (npm.exitCode === null && npm.signalCode === null) npm.kill("SIGKILL");
        if (servicePid !== undefined && isAlive(servicePid)) process.kill(servicePid, "SIGKILL");
      }
    },
    START_TIMEOUT_MS + 60_000,
  );
});
