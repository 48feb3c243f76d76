import { spawn, type ChildProcess } from "node:child_process";
import { Socket } from "node:net";

/**
 * A tiny shell process that sends SIGTERM to `pid` once this process is gone, however it went
 * (SIGKILL included): it blocks reading a pipe whose only writer is this process, and the kernel
 * closes that pipe when this process dies. No polling, no Node.js runtime of its own.
 */
export const startParentWatchdog = (pid: number): ChildProcess => {
  const watchdog = spawn("/bin/sh", ["-c", 'read -r _ ; kill -TERM "$1" 2>/dev/null', "managed-redis-watchdog", String(pid)], {
    // Its own session: a Ctrl-C meant for the service must not end the watchdog first.
    detached: true,
    stdio: ["pipe", "ignore", "ignore"],
  });
  watchdog.on("error", () => undefined);
  // Neither the watchdog nor its pipe may keep this process alive.
  watchdog.unref();
  if (watchdog.stdin instanceof Socket) watchdog.stdin.unref();
  return watchdog;
};
