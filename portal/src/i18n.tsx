// English and Dutch text, and dates and numbers in the person's own locale.
import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from "react";

export type Language = "en" | "nl";
export type Strings<K extends string> = { en: Record<K, string>; nl: Record<K, string> };
type Vars = Record<string, string | number>;

/** A page's text in both languages; the type makes a key missing in one of them a build error. */
export function defineStrings<K extends string>(strings: Strings<K>): Strings<K> {
  return strings;
}

function initialLanguage(): Language {
  const saved = localStorage.getItem("tenantry.language");
  if (saved === "en" || saved === "nl") return saved;
  return navigator.language.toLowerCase().startsWith("nl") ? "nl" : "en";
}

type LanguageState = { language: Language; setLanguage: (language: Language) => void };
const LanguageContext = createContext<LanguageState>({ language: "en", setLanguage: () => undefined });

export function LanguageProvider({ children }: { children: ReactNode }) {
  const [language, setState] = useState<Language>(initialLanguage);
  const setLanguage = useCallback((next: Language) => {
    localStorage.setItem("tenantry.language", next);
    document.documentElement.lang = next;
    setState(next);
  }, []);
  const value = useMemo(() => ({ language, setLanguage }), [language, setLanguage]);
  return <LanguageContext.Provider value={value}>{children}</LanguageContext.Provider>;
}

export function useLanguage(): LanguageState {
  return useContext(LanguageContext);
}

function fill(text: string, vars?: Vars): string {
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name: string) => (name in vars ? String(vars[name]) : whole));
}

/** `t("key", { count: 3 })`: the key's text in the chosen language, `{name}` filled from vars. */
export function useStrings<K extends string>(strings: Strings<K>): (key: K, vars?: Vars) => string {
  const { language } = useLanguage();
  return useCallback((key: K, vars?: Vars) => fill(strings[language][key], vars), [strings, language]);
}

/** Dates and numbers as the browser's locale writes them (nl-NL: 3-12-2026, 1.234), text in the chosen language. */
export function useFormat() {
  return useMemo(() => {
    const locale = navigator.language || "en-GB";
    const date = new Intl.DateTimeFormat(locale, { dateStyle: "medium" });
    const dateTime = new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" });
    const number = new Intl.NumberFormat(locale);
    const parse = (value: string | null | undefined) => (value ? new Date(value) : null);
    return {
      date: (value: string | null | undefined) => {
        const parsed = parse(value);
        return parsed ? date.format(parsed) : "—";
      },
      dateTime: (value: string | null | undefined) => {
        const parsed = parse(value);
        return parsed ? dateTime.format(parsed) : "—";
      },
      number: (value: number | null | undefined) => (value == null ? "—" : number.format(value)),
      money: (value: number | string | null | undefined, currency: string) =>
        value == null ? "—" : new Intl.NumberFormat(locale, { style: "currency", currency }).format(Number(value)),
    };
  }, []);
}
