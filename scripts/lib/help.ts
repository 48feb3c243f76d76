/**
 * `--help` / `-h` for the project's commands: prints the usage and exits 0 before anything else
 * runs, so that asking how to use a benchmark never starts one, whatever its own flag parsing does.
 */
export const exitOnHelp = (usage: string, argv: readonly string[] = process.argv.slice(2)): void => {
  if (!argv.includes("--help") && !argv.includes("-h")) return;
  process.stdout.write(`${usage.trim()}\n`);
  process.exit(0);
};
