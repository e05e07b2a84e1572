// Small pieces the pages share.
import { Component, createContext, useContext, type ErrorInfo, type ReactNode } from "react";

import type { Clients } from "./clients";
import type { Outcome } from "./commands";
import type { CatalogPerk } from "./operations";

export const ClientsContext = createContext<Clients | null>(null);

export function useClients(): Clients {
  const clients = useContext(ClientsContext);
  if (!clients) throw new Error("useClients outside a signed-in page");
  return clients;
}

export function money(amount: number, currency = "JPY"): string {
  return new Intl.NumberFormat("en", { style: "currency", currency }).format(amount);
}

export function Perks({ perks }: { perks: CatalogPerk[] }) {
  if (perks.length === 0) return <p className="muted">No perks</p>;
  return (
    <ul className="perks" aria-label="Perks">
      {perks.map((perk) => (
        <li key={perk.code} className={`perk perk-${perk.kind.toLowerCase()}`} title={perk.code}>
          {perk.title}
        </li>
      ))}
    </ul>
  );
}

export function FieldErrors({ messages, id }: { messages: string[]; id?: string }) {
  if (messages.length === 0) return null;
  return (
    <ul className="field-errors" id={id} role="alert">
      {messages.map((message) => (
        <li key={message}>{message}</li>
      ))}
    </ul>
  );
}

export function OutcomeMessage({ outcome, accepted }: { outcome: Outcome | null; accepted?: string }) {
  if (!outcome) return null;
  switch (outcome.kind) {
    case "accepted":
      return accepted ? <p className="notice success" role="status">{accepted}</p> : null;
    case "invalid":
      return (
        <div className="notice error" role="alert">
          <p>Please check the highlighted fields.</p>
          {outcome.general.length > 0 && <FieldErrors messages={outcome.general} />}
        </div>
      );
    case "refused":
      return (
        <p className="notice error" role="alert" data-code={outcome.code}>
          {outcome.message}
        </p>
      );
    case "failed":
      return <p className="notice error" role="alert">{outcome.message}</p>;
  }
}

export function StatusBadge({ status, testId }: { status: string; testId?: string }) {
  return (
    <span className={`badge badge-${status.toLowerCase()}`} data-testid={testId}>
      {status}
    </span>
  );
}

interface BoundaryState {
  error: Error | null;
}

/** Whatever breaks while rendering a page shows as a message, never as a blank page. */
export class ErrorBoundary extends Component<{ children: ReactNode; resetKey: string }, BoundaryState> {
  state: BoundaryState = { error: null };

  static getDerivedStateFromError(error: Error): BoundaryState {
    return { error };
  }

  componentDidCatch(error: Error, info: ErrorInfo): void {
    console.error("page failed", error, info.componentStack);
  }

  componentDidUpdate(previous: { resetKey: string }): void {
    if (previous.resetKey !== this.props.resetKey && this.state.error) this.setState({ error: null });
  }

  render() {
    if (this.state.error) {
      return (
        <div className="notice error" role="alert">
          <h2>Something went wrong on this page</h2>
          <p>{this.state.error.message}</p>
          <p><a href="/">Back to the search</a></p>
        </div>
      );
    }
    return this.props.children;
  }
}

export function isoDay(offsetDays: number, from = new Date()): string {
  const day = new Date(Date.UTC(from.getFullYear(), from.getMonth(), from.getDate() + offsetDays));
  return day.toISOString().slice(0, 10);
}

export function addDays(day: string, days: number): string {
  const date = new Date(`${day}T00:00:00Z`);
  date.setUTCDate(date.getUTCDate() + days);
  return date.toISOString().slice(0, 10);
}
