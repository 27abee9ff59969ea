// The portal's shell: theme, language, sign-in, the navigation and the area in view.
import {
  Button,
  FluentProvider,
  Link as FluentLink,
  Select,
  Spinner,
  Switch,
  Text,
  Title2,
  makeStyles,
  tokens,
  webDarkTheme,
  webLightTheme,
} from "@fluentui/react-components";
import { Suspense, useCallback, useEffect, useState } from "react";
import { BrowserRouter, NavLink, Navigate, Route, Routes } from "react-router";
import { areas } from "./areas";
import { Problem } from "./components/Problem";
import { LanguageProvider, useLanguage, useStrings, type Language } from "./i18n";
import { SessionProvider, startSession, useSession, type SignIn } from "./session";
import { common } from "./strings";

const useStyles = makeStyles({
  app: { minHeight: "100vh", display: "flex", flexDirection: "column" },
  bar: {
    display: "flex",
    alignItems: "center",
    gap: tokens.spacingHorizontalL,
    padding: `${tokens.spacingVerticalS} ${tokens.spacingHorizontalL}`,
    // A neutral bar with a brand rule: every control on it keeps Fluent's own contrast in both themes.
    backgroundColor: tokens.colorNeutralBackground3,
    borderBottom: `${tokens.strokeWidthThickest} solid ${tokens.colorBrandBackground}`,
  },
  brand: { margin: 0, color: tokens.colorBrandForeground1 },
  grow: { flexGrow: 1 },
  body: { display: "flex", flexGrow: 1 },
  nav: {
    width: "240px",
    flexShrink: 0,
    display: "flex",
    flexDirection: "column",
    gap: tokens.spacingVerticalXS,
    padding: tokens.spacingVerticalM,
    borderRight: `${tokens.strokeWidthThin} solid ${tokens.colorNeutralStroke2}`,
  },
  navLink: {
    display: "block",
    padding: `${tokens.spacingVerticalS} ${tokens.spacingHorizontalM}`,
    borderRadius: tokens.borderRadiusMedium,
    color: tokens.colorNeutralForeground1,
    textDecoration: "none",
    ":hover": { backgroundColor: tokens.colorNeutralBackground1Hover },
    ":focus-visible": { outline: `${tokens.strokeWidthThick} solid ${tokens.colorStrokeFocus2}` },
  },
  navActive: { backgroundColor: tokens.colorNeutralBackground1Selected, fontWeight: tokens.fontWeightSemibold },
  main: { flexGrow: 1, padding: tokens.spacingHorizontalXXL, minWidth: 0 },
  skip: {
    position: "absolute",
    left: "-10000px",
    ":focus": { left: tokens.spacingHorizontalS, top: tokens.spacingVerticalS, zIndex: 1 },
  },
  centre: { margin: "15vh auto", maxWidth: "28rem", display: "flex", flexDirection: "column", gap: tokens.spacingVerticalL },
});

function useDarkTheme(): [boolean, (dark: boolean) => void] {
  const [dark, setDark] = useState(() => {
    const saved = localStorage.getItem("tenantry.theme");
    return saved ? saved === "dark" : window.matchMedia?.("(prefers-color-scheme: dark)").matches === true;
  });
  const choose = useCallback((next: boolean) => {
    localStorage.setItem("tenantry.theme", next ? "dark" : "light");
    setDark(next);
  }, []);
  return [dark, choose];
}

function Preferences({ dark, setDark }: { dark: boolean; setDark: (dark: boolean) => void }) {
  const t = useStrings(common);
  const { language, setLanguage } = useLanguage();
  return (
    <>
      <Switch checked={dark} onChange={(_, data) => setDark(data.checked)} label={t("theme")} />
      <Select
        aria-label={t("language")}
        value={language}
        onChange={(_, data) => setLanguage(data.value as Language)}
      >
        <option value="en">English</option>
        <option value="nl">Nederlands</option>
      </Select>
    </>
  );
}

function Shell({ dark, setDark }: { dark: boolean; setDark: (dark: boolean) => void }) {
  const styles = useStyles();
  const t = useStrings(common);
  const session = useSession();
  return (
    <div className={styles.app}>
      <a className={styles.skip} href="#main">
        {t("skipToContent")}
      </a>
      <header className={styles.bar}>
        <Title2 as="p" className={styles.brand}>
          {t("appName")}
        </Title2>
        {session.me.memberships.length > 1 ? (
          <Select
            aria-label={t("partner")}
            value={session.partnerId}
            onChange={(_, data) => session.chooseMembership(data.value)}
          >
            {session.me.memberships.map((m) => (
              <option key={m.partnerId} value={m.partnerId}>
                {m.partnerDisplayName}
              </option>
            ))}
          </Select>
        ) : (
          <Text>{session.membership?.partnerDisplayName}</Text>
        )}
        <span className={styles.grow} />
        <Preferences dark={dark} setDark={setDark} />
        <Text>{session.me.displayName}</Text>
        <Button onClick={() => void session.signOut()}>{t("signOut")}</Button>
      </header>
      <div className={styles.body}>
        <nav className={styles.nav} aria-label={t("navigation")}>
          {areas.map((area) => (
            <NavLink
              key={area.path}
              to={`/${area.path}`}
              className={({ isActive }) => (isActive ? `${styles.navLink} ${styles.navActive}` : styles.navLink)}
            >
              {t(area.label)}
            </NavLink>
          ))}
        </nav>
        <main id="main" className={styles.main} tabIndex={-1}>
          {session.membership ? (
            <Suspense fallback={<Spinner label={t("loading")} />}>
              <Routes>
                <Route index element={<Navigate to="/tenants" replace />} />
                {areas.map((area) => (
                  <Route key={area.path} path={`${area.path}/*`} element={<area.component />} />
                ))}
                <Route path="*" element={<Navigate to="/tenants" replace />} />
              </Routes>
            </Suspense>
          ) : (
            <Text role="status">{t("noMembership")}</Text>
          )}
        </main>
      </div>
    </div>
  );
}

function SignedOut({ signIn, dark, setDark }: { signIn: () => Promise<void>; dark: boolean; setDark: (d: boolean) => void }) {
  const styles = useStyles();
  const t = useStrings(common);
  return (
    <main className={styles.centre}>
      <h1>
        <Title2>{t("appName")}</Title2>
      </h1>
      <Text>{t("signInIntro")}</Text>
      <Button appearance="primary" onClick={() => void signIn()}>
        {t("signIn")}
      </Button>
      <Preferences dark={dark} setDark={setDark} />
    </main>
  );
}

function Root() {
  const [dark, setDark] = useDarkTheme();
  const [round, setRound] = useState(0);
  const [state, setState] = useState<SignIn | { state: "starting" } | { state: "failed"; error: unknown }>({
    state: "starting",
  });
  const t = useStrings(common);
  useEffect(() => {
    startSession(() => setRound((r) => r + 1)).then(setState, (error: unknown) => setState({ state: "failed", error }));
  }, [round]);
  return (
    <FluentProvider theme={dark ? webDarkTheme : webLightTheme}>
      {state.state === "starting" ? <Spinner label={t("loading")} /> : null}
      {state.state === "failed" ? (
        <main>
          <Problem error={state.error} />
          <FluentLink href="/">{t("retry")}</FluentLink>
        </main>
      ) : null}
      {state.state === "signed-out" ? <SignedOut signIn={state.signIn} dark={dark} setDark={setDark} /> : null}
      {state.state === "signed-in" ? (
        <SessionProvider session={state.session}>
          <BrowserRouter>
            <Shell dark={dark} setDark={setDark} />
          </BrowserRouter>
        </SessionProvider>
      ) : null}
    </FluentProvider>
  );
}

export function App() {
  return (
    <LanguageProvider>
      <Root />
    </LanguageProvider>
  );
}
