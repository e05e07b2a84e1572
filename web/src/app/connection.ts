// The state of the live-updates websocket, for the pages to say when it drops and when
// it is back.
import { useSyncExternalStore } from "react";

export type ConnectionStatus = "idle" | "connecting" | "live" | "lost" | "refused";

export interface ConnectionState {
  status: ConnectionStatus;
  /** Set once a connection came back after a drop. */
  reconnected: boolean;
}

let state: ConnectionState = { status: "idle", reconnected: false };
const listeners = new Set<() => void>();

function update(next: Partial<ConnectionState>): void {
  state = { ...state, ...next };
  listeners.forEach((listener) => listener());
}

export const connectionEvents = {
  connecting(isRetry: boolean): void {
    update({ status: isRetry || state.status === "lost" ? "lost" : "connecting" });
  },
  connected(wasRetry: boolean): void {
    update({ status: "live", reconnected: state.reconnected || wasRetry });
  },
  closed(code: number | undefined): void {
    if (code === 4401 || code === 4403) update({ status: "refused" });
    else if (code === 1000) update({ status: "idle" });
    else update({ status: "lost" });
  },
  reset(): void {
    update({ status: "idle", reconnected: false });
  },
};

export function useConnection(): ConnectionState {
  return useSyncExternalStore(
    (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    () => state,
  );
}
