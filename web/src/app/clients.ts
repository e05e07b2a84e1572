// The GraphQL clients: queries and live subscriptions on /graphql (subscriptions over
// graphql-transport-ws, the token in connection_init), commands on /graphql/command.
import { createClient as createWebSocketClient, type Client as WebSocketClient } from "graphql-ws";
import { Client, fetchExchange, subscriptionExchange } from "urql";

import { connectionEvents } from "./connection";

export interface Clients {
  queries: Client;
  commands: Client;
  dispose(): void;
}

const REFUSED_CLOSE_CODES = new Set([4400, 4401, 4403]);

function closeCode(event: unknown): number | undefined {
  return typeof event === "object" && event !== null && "code" in event
    ? Number((event as { code: unknown }).code)
    : undefined;
}

function websocketUrl(path: string): string {
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${window.location.host}${path}`;
}

export function createClients(token: string): Clients {
  const headers = { Authorization: `Bearer ${token}` };
  const live: WebSocketClient = createWebSocketClient({
    url: websocketUrl("/graphql"),
    connectionParams: headers,
    lazy: true,
    keepAlive: 10_000,
    retryAttempts: Number.POSITIVE_INFINITY,
    // A refused token will not become valid by retrying; anything else (the service
    // restarting, the network dropping) is worth trying again.
    shouldRetry: (event) => !REFUSED_CLOSE_CODES.has(closeCode(event) ?? 0),
    retryWait: (retries) =>
      new Promise((resolve) => setTimeout(resolve, Math.min(500 * 2 ** retries, 5_000))),
    on: {
      connecting: (isRetry) => connectionEvents.connecting(isRetry),
      connected: (_socket, _payload, wasRetry) => connectionEvents.connected(wasRetry),
      closed: (event) => connectionEvents.closed(closeCode(event)),
    },
  });
  const fetchOptions = { headers };
  const queries = new Client({
    url: "/graphql",
    requestPolicy: "network-only",
    fetchOptions,
    exchanges: [
      fetchExchange,
      subscriptionExchange({
        forwardSubscription(request) {
          const operation = { ...request, query: request.query ?? "" };
          return {
            subscribe(sink) {
              return { unsubscribe: live.subscribe(operation, sink) };
            },
          };
        },
      }),
    ],
  });
  const commands = new Client({
    url: "/graphql/command",
    requestPolicy: "network-only",
    fetchOptions,
    exchanges: [fetchExchange],
  });
  return {
    queries,
    commands,
    dispose() {
      void live.dispose();
      connectionEvents.reset();
    },
  };
}
