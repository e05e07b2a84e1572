// GraphiQL for whichever endpoint serves this page: /graphql (queries and subscriptions)
// or /graphql/command (mutations). Everything it loads comes from this service.
import "graphiql/style.css";
import "@graphiql/plugin-explorer/style.css";
import "./style.css";

import { explorerPlugin } from "@graphiql/plugin-explorer";
import { useSchemaStore } from "@graphiql/react";
import { createGraphiQLFetcher } from "@graphiql/toolkit";
import { GraphiQL } from "graphiql";
import { StrictMode, useEffect, useRef, useState } from "react";
import { createRoot } from "react-dom/client";

import { ForgetfulStorage } from "./forgetful-storage";

const endpoint = window.location.pathname.replace(/\/+$/, "") || "/graphql";
const isCommandEndpoint = endpoint.endsWith("/command");
const websocketUrl = `${window.location.protocol === "https:" ? "wss" : "ws"}://${window.location.host}${endpoint}`;

// `./run` prints a link with `?headers=` (the demo token) filled in; take it into the
// headers editor and out of the address bar, so the token is not shared with the URL.
const parameters = new URLSearchParams(window.location.search);
const linkedHeaders = parameters.get("headers") ?? undefined;
if (linkedHeaders !== undefined) {
  parameters.delete("headers");
  const search = parameters.toString();
  window.history.replaceState(null, "", `${endpoint}${search ? `?${search}` : ""}`);
}

const storage = new ForgetfulStorage();

// A subscription opens its own graphql-transport-ws connection with the headers editor's
// contents as the connection_init payload, which is where the service reads the token.
const fetcher = createGraphiQLFetcher({ url: endpoint, subscriptionUrl: websocketUrl });

const QUERY_EXAMPLE = `# Queries and subscriptions (mutations go to /graphql/command).
# Put your token in the Headers tab: {"Authorization": "Bearer <token>"}

query SearchHotels {
  hotels(city: "Tokyo", checkIn: "2030-04-01", checkOut: "2030-04-03") {
    id
    name
    roomTypes { code name stayPrice }
    perks { code title }
  }
}

subscription MyBookingUpdates {
  myBookingUpdates { id status version }
}
`;

const COMMAND_EXAMPLE = `# Commands: every mutation answers with a CommandResult.
# Put your token in the Headers tab: {"Authorization": "Bearer <token>"}

query SchemaVersion {
  schemaVersion
}
`;

const plugins = [explorerPlugin()];

// GraphiQL reads the schema with the headers editor's token, and its first reading can
// come before the editor holds the token of a `?headers=` link; without a token the
// service refuses it. So while there is no schema and the headers name a token not tried
// yet, read it again (what the re-fetch button does).
const SCHEMA_RETRY_DELAY_MS = 400;

function TravelBuddyGraphiQL() {
  const schemaMissing = useSchemaStore((store) => !store.schema && !store.isFetching);
  const introspect = useSchemaStore((store) => store.introspect);
  const [headers, setHeaders] = useState(linkedHeaders ?? "");
  const tried = useRef<string | null>(null);

  useEffect(() => {
    if (!schemaMissing || !/authorization/i.test(headers) || tried.current === headers) return;
    const timer = window.setTimeout(() => {
      tried.current = headers;
      void introspect();
    }, SCHEMA_RETRY_DELAY_MS);
    return () => window.clearTimeout(timer);
  }, [schemaMissing, headers, introspect]);

  return (
    <GraphiQL
      onEditHeaders={setHeaders}
      fetcher={fetcher}
      storage={storage}
      plugins={plugins}
      defaultQuery={isCommandEndpoint ? COMMAND_EXAMPLE : QUERY_EXAMPLE}
      headers={linkedHeaders}
      defaultHeaders={linkedHeaders ?? ""}
      shouldPersistHeaders={storage.remembering}
      showPersistHeadersSettings
      isHeadersEditorEnabled
      defaultEditorToolsVisibility={linkedHeaders !== undefined ? "headers" : true}
      inputValueDeprecation
    />
  );
}

createRoot(document.getElementById("graphiql")!).render(
  <StrictMode>
    <TravelBuddyGraphiQL />
  </StrictMode>,
);
