// Sending a command and reading its CommandResult: accepted, an error as data (validation
// problems keyed by the field they are about), or a failure of the request itself.
import { useState } from "react";
import type { AnyVariables, CombinedError, DocumentInput } from "urql";

import type { Clients } from "./clients";
import type { CommandResult, FieldProblem } from "./operations";
import { useClients } from "./ui";

export type Outcome =
  | { kind: "accepted"; bookingId: string; version: number }
  | { kind: "invalid"; message: string; problems: Map<string, string[]>; general: string[] }
  | { kind: "refused"; code: string; message: string }
  | { kind: "failed"; message: string };

/** A problem's argument path without the leading `input`: "travelers.0.name". */
export function fieldKey(problem: FieldProblem): string {
  const path = problem.path ?? [];
  return (path[0] === "input" ? path.slice(1) : path).join(".");
}

export function describeFailure(error: CombinedError): string {
  const status = (error.response as Response | undefined)?.status;
  if (status === 401 || status === 403) {
    return "The service refused your token (expired or not valid here): sign out and sign in again.";
  }
  if (error.networkError) return `The service could not be reached: ${error.networkError.message}`;
  return error.graphQLErrors.map((e) => e.message).join("; ") || error.message;
}

type CommandDocument<Variables extends AnyVariables> = DocumentInput<Record<string, CommandResult>, Variables>;

/** A form's command: `send` it, and the form shows `busy` while it is on its way and its
 * last `outcome` after. */
export function useCommand() {
  const clients = useClients();
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [busy, setBusy] = useState(false);

  async function send<Variables extends AnyVariables>(
    document: CommandDocument<Variables>,
    variables: Variables,
  ): Promise<Outcome> {
    setBusy(true);
    const result = await sendCommand(clients, document, variables);
    setOutcome(result);
    setBusy(false);
    return result;
  }

  return { outcome, busy, send };
}

async function sendCommand<Variables extends AnyVariables>(
  clients: Clients,
  document: CommandDocument<Variables>,
  variables: Variables,
): Promise<Outcome> {
  const response = await clients.commands.mutation(document, variables).toPromise();
  if (response.error) return { kind: "failed", message: describeFailure(response.error) };
  const result = Object.values(response.data ?? {})[0];
  if (!result) return { kind: "failed", message: "The service sent no answer." };
  switch (result.__typename) {
    case "CommandAccepted":
      return { kind: "accepted", bookingId: result.bookingId, version: result.version };
    case "ValidationError": {
      const problems = new Map<string, string[]>();
      const general: string[] = [];
      for (const problem of result.problems) {
        const key = fieldKey(problem);
        if (key) problems.set(key, [...(problems.get(key) ?? []), problem.message]);
        else general.push(problem.message);
      }
      return { kind: "invalid", message: result.message, problems, general };
    }
    default:
      return { kind: "refused", code: result.code, message: result.message };
  }
}

/** The messages about one field, or about any field under it ("hotelStay" covers
 * "hotelStay.checkOut"). */
export function problemsAt(outcome: Outcome | null, ...keys: string[]): string[] {
  if (outcome?.kind !== "invalid") return [];
  const found: string[] = [];
  for (const [key, messages] of outcome.problems) {
    if (keys.some((wanted) => key === wanted || key.startsWith(`${wanted}.`))) {
      found.push(...messages);
    }
  }
  return found;
}
