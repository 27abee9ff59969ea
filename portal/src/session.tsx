// Signing a person in with MSAL (authorisation code + PKCE) and knowing which partner they work for.
import {
  InteractionRequiredAuthError,
  PublicClientApplication,
  type AccountInfo,
} from "@azure/msal-browser";
import { createContext, useContext, type ReactNode } from "react";
import { api, call, setTokenSource, type Schemas } from "./api/client";

/** What the stamp tells the portal at /config.json: its app registration and where Entra is. */
export type PortalConfig = {
  clientId: string;
  authority: string;
  knownAuthorities: string[];
  scopes: string[];
};

export type Me = Schemas["MeOut"];
export type Membership = Me["memberships"][number];

export type Session = {
  account: AccountInfo;
  me: Me;
  membership: Membership | null;
  /** The partner every page works for: the membership's partner. */
  partnerId: string;
  chooseMembership: (partnerId: string) => void;
  signOut: () => Promise<void>;
};

export type SignIn =
  | { state: "signed-out"; signIn: () => Promise<void> }
  | { state: "signed-in"; session: Session };

async function loadConfig(): Promise<PortalConfig> {
  const response = await fetch("/config.json", { cache: "no-cache" });
  if (!response.ok) throw new Error(`The portal's configuration could not be read (${response.status}).`);
  return (await response.json()) as PortalConfig;
}

/** Starts MSAL, finishes a sign-in redirect if this load is one, and reads who the person is. */
export async function startSession(onChange: () => void): Promise<SignIn> {
  const config = await loadConfig();
  const msal = new PublicClientApplication({
    auth: {
      clientId: config.clientId,
      authority: config.authority,
      knownAuthorities: config.knownAuthorities,
      redirectUri: `${window.location.origin}/`,
      postLogoutRedirectUri: `${window.location.origin}/`,
    },
    // Tokens live as long as the tab: a shared technician's PC keeps nothing after it closes.
    cache: { cacheLocation: "sessionStorage" },
  });
  await msal.initialize();
  const redirected = await msal.handleRedirectPromise();
  const account = redirected?.account ?? msal.getAllAccounts()[0] ?? null;
  const signIn = async () => {
    sessionStorage.setItem("tenantry.returnTo", window.location.pathname + window.location.search);
    await msal.loginRedirect({ scopes: config.scopes });
  };
  if (!account) return { state: "signed-out", signIn };
  msal.setActiveAccount(account);
  setTokenSource(async () => {
    try {
      return (await msal.acquireTokenSilent({ scopes: config.scopes, account })).accessToken;
    } catch (failure) {
      if (failure instanceof InteractionRequiredAuthError) await signIn();
      throw failure;
    }
  });
  const me = await call(api.GET("/api/me"));
  const chosen = sessionStorage.getItem("tenantry.partner");
  const membership = me.memberships.find((m) => m.partnerId === chosen) ?? me.memberships[0] ?? null;
  const returnTo = sessionStorage.getItem("tenantry.returnTo");
  if (redirected && returnTo) {
    sessionStorage.removeItem("tenantry.returnTo");
    window.history.replaceState(null, "", returnTo);
  }
  return {
    state: "signed-in",
    session: {
      account,
      me,
      membership,
      partnerId: membership?.partnerId ?? "",
      chooseMembership: (partnerId) => {
        sessionStorage.setItem("tenantry.partner", partnerId);
        onChange();
      },
      signOut: () => msal.logoutRedirect({ account }),
    },
  };
}

const SessionContext = createContext<Session | null>(null);

export function SessionProvider({ session, children }: { session: Session; children: ReactNode }) {
  return <SessionContext.Provider value={session}>{children}</SessionContext.Provider>;
}

/** The signed-in person and their partner; only pages under the signed-in shell call it. */
export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession outside the signed-in shell");
  return session;
}
