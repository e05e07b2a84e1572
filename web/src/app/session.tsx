// Who is signed in: the bearer token, kept in this tab's sessionStorage (closing the tab
// signs out), and the customer id it names.
import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from "react";

const TOKEN_KEY = "travelbuddy.token";

export interface Session {
  token: string | null;
  customer: string | null;
  signIn(token: string): void;
  signOut(): void;
}

const SessionContext = createContext<Session | null>(null);

function storedToken(): string | null {
  try {
    return window.sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

/** The `sub` claim of a JWT, read for display only: the service verifies the token. */
export function customerOf(token: string): string | null {
  try {
    const payload = token.split(".")[1] ?? "";
    const json = atob(payload.replace(/-/g, "+").replace(/_/g, "/"));
    const sub = (JSON.parse(json) as { sub?: unknown }).sub;
    return typeof sub === "string" ? sub : null;
  } catch {
    return null;
  }
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const [token, setToken] = useState<string | null>(storedToken);
  const signIn = useCallback((value: string) => {
    try {
      window.sessionStorage.setItem(TOKEN_KEY, value);
    } catch {
      // storage disabled: signed in until the page reloads
    }
    setToken(value);
  }, []);
  const signOut = useCallback(() => {
    try {
      window.sessionStorage.removeItem(TOKEN_KEY);
    } catch {
      // nothing stored
    }
    setToken(null);
  }, []);
  const session = useMemo(
    () => ({ token, customer: token ? customerOf(token) : null, signIn, signOut }),
    [token, signIn, signOut],
  );
  return <SessionContext.Provider value={session}>{children}</SessionContext.Provider>;
}

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession outside SessionProvider");
  return session;
}
