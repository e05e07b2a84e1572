// The customer's single-page app, served by the service at / (and its page paths).
import "./style.css";

import { StrictMode, useEffect, useMemo } from "react";
import { createRoot } from "react-dom/client";
import { Provider } from "urql";

import { BookingPage } from "./BookingPage";
import { createClients } from "./clients";
import { MyBookingsPage } from "./MyBookingsPage";
import { Link, useLocation } from "./router";
import { SearchPage } from "./SearchPage";
import { SessionProvider, useSession } from "./session";
import { SignInPage } from "./SignInPage";
import { ClientsContext, ErrorBoundary } from "./ui";

function SignedIn({ token, path, search }: { token: string; path: string; search: URLSearchParams }) {
  const clients = useMemo(() => createClients(token), [token]);
  useEffect(() => () => clients.dispose(), [clients]);
  const booking = /^\/bookings\/([^/]+)$/.exec(path);
  const version = Number(search.get("v"));
  let page;
  if (booking) {
    page = (
      <BookingPage
        key={booking[1]}
        bookingId={decodeURIComponent(booking[1]!)}
        minVersion={Number.isInteger(version) && version > 0 ? version : null}
      />
    );
  } else if (path === "/bookings") {
    page = <MyBookingsPage />;
  } else if (path === "/" || path === "/search") {
    page = <SearchPage />;
  } else {
    page = <section className="page"><h1>Page not found</h1><p><Link to="/">Plan a trip</Link></p></section>;
  }
  return (
    <ClientsContext.Provider value={clients}>
      <Provider value={clients.queries}>{page}</Provider>
    </ClientsContext.Provider>
  );
}

function App() {
  const session = useSession();
  const location = useLocation();
  return (
    <>
      <header className="top">
        <Link to="/" className="brand">TravelBuddy</Link>
        <nav>
          <Link to="/">Search</Link>
          <Link to="/bookings">My bookings</Link>
          <a href="/graphql">GraphiQL</a>
        </nav>
        {session.token && (
          <div className="who">
            <span data-testid="signed-in-as">{session.customer ?? "signed in"}</span>
            <button type="button" className="link" onClick={session.signOut}>Sign out</button>
          </div>
        )}
      </header>
      <main>
        <ErrorBoundary resetKey={location.pathname}>
          {session.token ? (
            <SignedIn token={session.token} path={location.pathname} search={location.searchParams} />
          ) : (
            <SignInPage />
          )}
        </ErrorBoundary>
      </main>
    </>
  );
}

createRoot(document.getElementById("app")!).render(
  <StrictMode>
    <SessionProvider>
      <App />
    </SessionProvider>
  </StrictMode>,
);
