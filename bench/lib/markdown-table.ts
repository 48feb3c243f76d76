/** A GitHub-flavoured Markdown table, columns padded so that it also reads as plain text. */
export const markdownTable = (header: readonly string[], rows: readonly (readonly string[])[]): string => {
  const widths = header.map((cell, i) => Math.max(cell.length, 3, ...rows.map((row) => (row[i] ?? "").length)));
  // Every column but the first holds figures: right-aligned.
  const line = (cells: readonly string[]) =>
    `| ${widths.map((width, i) => (i === 0 ? (cells[i] ?? "").padEnd(width) : (cells[i] ?? "").padStart(width))).join(" | ")} |`;
  const rule = `| ${widths.map((width, i) => (i === 0 ? "-".repeat(width) : `${"-".repeat(width - 1)}:`)).join(" | ")} |`;
  return [line(header), rule, ...rows.map(line)].join("\n");
};
