// Sign-in for the demo: paste a bearer token, or (only while the service runs with its
// generated development secret) take a demo customer's token with one button.
import { useEffect, useState, type FormEvent } from "react";

import { useSession } from "./session";
import { FieldErrors } from "./ui";

interface WebConfig {
  demoSignIn: boolean;
  demoCustomer: string | null;
}

async function tokenRefusal(token: string): Promise<string | null> {
  const response = await fetch("/graphql", {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: "{ myBookings(first: 1) { pageInfo { hasNextPage } } }" }),
  });
  if (response.ok) return null;
  const body = (await response.json().catch(() => ({}))) as { reason?: string };
  return `The service refused this token: ${body.reason ?? response.statusText}`;
}

export function SignInPage() {
  const session = useSession();
  const [token, setToken] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [config, setConfig] = useState<WebConfig | null>(null);

  useEffect(() => {
    fetch("/web/config")
      .then((response) => (response.ok ? (response.json() as Promise<WebConfig>) : null))
      .then(setConfig)
      .catch(() => setConfig(null));
  }, []);

  async function signIn(value: string) {
    setBusy(true);
    setProblem(null);
    try {
      const refusal = await tokenRefusal(value);
      if (refusal) setProblem(refusal);
      else session.signIn(value);
    } catch (error) {
      setProblem(`The service could not be reached: ${(error as Error).message}`);
    } finally {
      setBusy(false);
    }
  }

  function submit(event: FormEvent) {
    event.preventDefault();
    const value = token.trim().replace(/^Bearer\s+/i, "");
    if (!value) {
      setProblem("Paste a token first.");
      return;
    }
    void signIn(value);
  }

  async function demo() {
    setBusy(true);
    setProblem(null);
    try {
      const response = await fetch("/web/demo-token", { method: "POST" });
      if (!response.ok) throw new Error(`demo sign-in answered ${response.status}`);
      const { token: demoToken } = (await response.json()) as { token: string };
      session.signIn(demoToken);
    } catch (error) {
      setProblem((error as Error).message);
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="page narrow">
      <h1>Sign in</h1>
      <form onSubmit={submit} className="card" noValidate>
        <label htmlFor="token">Bearer token</label>
        <textarea
          id="token"
          rows={4}
          value={token}
          onChange={(event) => setToken(event.target.value)}
          placeholder="eyJhbGciOi… (travelbuddy token CUSTOMER prints one)"
          aria-describedby="token-problem"
          aria-invalid={problem !== null}
        />
        <FieldErrors messages={problem ? [problem] : []} id="token-problem" />
        <div className="actions">
          <button type="submit" disabled={busy}>Sign in</button>
          {config?.demoSignIn && (
            <button type="button" className="secondary" onClick={() => void demo()} disabled={busy}>
              Sign in as the demo customer ({config.demoCustomer})
            </button>
          )}
        </div>
      </form>
      <p className="muted">
        <code>./run</code> prints a token for <code>demo-customer</code>;{" "}
        <code>.venv/bin/travelbuddy token CUSTOMER</code> prints one for anyone.
      </p>
    </section>
  );
}
