// Amounts the API gives in cents, as money in the person's locale.
export function cents(format: { money: (value: number, currency: string) => string }, amount: number, currency: string): string {
  return format.money(amount / 100, currency);
}
