// Money as the API gives it: decimal strings, already rounded to the currency's minor
// unit. Formatting for display only; no arithmetic happens here.

/** "806500", "VND" -> "₫806,500" (the browser's locale). */
export function money(amount, currency) {
  if (amount === null || amount === undefined || amount === "") return "–";
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(Number(amount));
  } catch {
    return `${amount} ${currency}`;
  }
}

/** The cycle name (YYYY-MM) before `cycle`. */
export function previousCycle(cycle) {
  const [y, m] = cycle.split("-").map(Number);
  return m === 1 ? `${y - 1}-12` : `${y}-${String(m - 1).padStart(2, "0")}`;
}
