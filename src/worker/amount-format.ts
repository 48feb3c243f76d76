/** Formatters per currency: building an `Intl.NumberFormat` costs far more than using one. */
const amountFormats = new Map<string, Intl.NumberFormat>();

const amountFormat = (currency: string): Intl.NumberFormat => {
  const known = amountFormats.get(currency);
  if (known) return known;
  let digits = 2;
  try {
    digits = new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits ?? 2;
  } catch {
    // An unknown code: keep two decimals.
  }
  const format = new Intl.NumberFormat("en", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  if (amountFormats.size < 1000) amountFormats.set(currency, format);
  return format;
};

/** `12,000 KRW`, `12.50 USD`: minor units shown in the currency's own decimals. */
export const formatAmount = (amount: number, currency: string): string => {
  const format = amountFormat(currency);
  const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
  return `${format.format(amount / 10 ** digits)} ${currency}`;
};
