// A decision's reason in words an operator at the machine can act on.

export const REFUSALS = ["counterfeit", "unknown", "inhibited", "invalid"];

const names = new Map();

export function learnCoins(catalogue) {
  for (const coin of catalogue) names.set(coin.id, coin.name);
}

export function coinName(id) {
  if (!id) return "no coin";
  const name = names.get(id);
  return name ? `${name} (${id})` : id;
}

export function reasonInWords(decision) {
  const coin = coinName(decision.coin);
  switch (decision.reason) {
    case "accepted":
      return `Accepted as ${coin}.`;
    case "counterfeit":
      return "Refused: a counterfeit or a foreign coin, near a taught coin but not within its region.";
    case "unknown":
      return "Refused: not like any coin taught on this head.";
    case "inhibited":
      return decision.coin
        ? `Refused: ${coin} is inhibited (by an operator, the master inhibit or its legal-tender dates).`
        : "Refused: inhibited.";
    case "invalid":
      return "Refused: the signature could not be judged (a measurement missing or out of range).";
    default:
      return `${decision.accepted ? "Accepted" : "Refused"}: ${decision.reason}.`;
  }
}

export const REASON_LABEL = {
  accepted: "accepted",
  counterfeit: "counterfeit",
  unknown: "unknown coin",
  inhibited: "inhibited",
  invalid: "invalid signature",
};
