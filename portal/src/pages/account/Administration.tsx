// The partner's administration fields as its invoices show them: read, changed, validated as the API does.
import {
  Button,
  Field,
  Input,
  MessageBar,
  MessageBarBody,
  Spinner,
  makeStyles,
  tokens,
} from "@fluentui/react-components";
import { useEffect, useState, type FormEvent } from "react";
import { ApiProblem, api, call, type Schemas } from "../../api/client";
import { PageFrame } from "../../components/PageFrame";
import { Problem } from "../../components/Problem";
import { useLoad } from "../../components/useLoad";
import { useStrings } from "../../i18n";
import { useSession } from "../../session";
import { AccountLinks } from "./AccountLinks";
import { strings } from "./strings";

type Admin = Schemas["Administration"];
type Values = {
  legalName: string;
  line1: string;
  line2: string;
  postalCode: string;
  city: string;
  country: string;
  chamberOfCommerceNumber: string;
  vatNumber: string;
  billingEmail: string;
};
type Key = keyof Values;

const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
const COC = /^[A-Za-z0-9][A-Za-z0-9 ./-]{0,31}$/;

const useStyles = makeStyles({
  form: { display: "flex", flexDirection: "column", gap: tokens.spacingVerticalM, maxWidth: "36rem" },
  row: { display: "flex", gap: tokens.spacingHorizontalM, alignItems: "center" },
});

function valuesOf(admin: Partial<Admin>): Values {
  return {
    legalName: admin.legalName ?? "",
    line1: admin.address?.line1 ?? "",
    line2: admin.address?.line2 ?? "",
    postalCode: admin.address?.postalCode ?? "",
    city: admin.address?.city ?? "",
    country: admin.address?.country ?? "",
    chamberOfCommerceNumber: admin.chamberOfCommerceNumber ?? "",
    vatNumber: admin.vatNumber ?? "",
    billingEmail: admin.billingEmail ?? "",
  };
}

const orNull = (value: string) => (value.trim() ? value.trim() : null);

export function Administration() {
  const t = useStrings(strings);
  const styles = useStyles();
  const { partnerId } = useSession();
  const loaded = useLoad(
    () => call(api.GET("/api/partners/{partnerId}/administration", { params: { path: { partnerId } } })),
    [partnerId],
  );
  const [values, setValues] = useState<Values | null>(null);
  const [tried, setTried] = useState(false);
  const [running, setRunning] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);

  useEffect(() => {
    if (loaded.data) setValues(valuesOf(loaded.data));
  }, [loaded.data]);

  const v = values ?? valuesOf({});
  const anyAddress = Boolean(v.line1.trim() || v.line2.trim() || v.postalCode.trim() || v.city.trim() || v.country.trim());
  const own: Partial<Record<Key, string>> = {};
  if (v.legalName.length > 200) own.legalName = t("tooLong");
  if (anyAddress) {
    if (!v.line1.trim()) own.line1 = t("addressIncomplete");
    if (!v.postalCode.trim()) own.postalCode = t("required");
    if (!v.city.trim()) own.city = t("required");
    if (!/^[A-Z]{2}$/.test(v.country.trim())) own.country = v.country.trim() ? t("badCountry") : t("required");
  }
  if (v.chamberOfCommerceNumber.trim() && !COC.test(v.chamberOfCommerceNumber.trim())) own.chamberOfCommerceNumber = t("badCoc");
  if (v.vatNumber.length > 32) own.vatNumber = t("tooLong");
  if (v.billingEmail.trim() && !EMAIL.test(v.billingEmail.trim())) own.billingEmail = t("badEmail");
  const valid = Object.keys(own).length === 0;

  const apiErrors = error instanceof ApiProblem ? error.errors : [];
  const message = (key: Key) => {
    if (tried && own[key]) return own[key];
    return apiErrors.find((e) => e.field === key || e.field?.endsWith(`.${key}`))?.message;
  };

  const set = (key: Key) => (_: unknown, data: { value: string }) => {
    setSaved(false);
    setValues({ ...v, [key]: data.value });
  };

  const save = async (event: FormEvent) => {
    event.preventDefault();
    setTried(true);
    setSaved(false);
    if (!valid) return;
    setRunning(true);
    setError(null);
    try {
      const body: Schemas["AdministrationPatch"] = {
        legalName: orNull(v.legalName),
        address: anyAddress
          ? {
              line1: v.line1.trim(),
              line2: orNull(v.line2),
              postalCode: v.postalCode.trim(),
              city: v.city.trim(),
              country: v.country.trim(),
            }
          : null,
        chamberOfCommerceNumber: orNull(v.chamberOfCommerceNumber),
        vatNumber: orNull(v.vatNumber),
        billingEmail: orNull(v.billingEmail),
      };
      const after = await call(
        api.PATCH("/api/partners/{partnerId}/administration", { params: { path: { partnerId } }, body }),
      );
      setValues(valuesOf(after));
      setTried(false);
      setSaved(true);
    } catch (failure) {
      setError(failure);
    } finally {
      setRunning(false);
    }
  };

  const field = (key: Key, label: string, hint?: string, type?: "email") => (
    <Field label={label} hint={hint} validationMessage={message(key)} validationState={message(key) ? "error" : "none"}>
      <Input type={type} value={v[key]} onChange={set(key)} />
    </Field>
  );

  return (
    <PageFrame title={t("adminTitle")} description={t("adminDescription")} actions={<AccountLinks />}>
      {loaded.error ? <Problem error={loaded.error} /> : null}
      {loaded.loading && !values ? <Spinner size="small" label={t("adminTitle")} /> : null}
      {values ? (
        <form className={styles.form} onSubmit={(event) => void save(event)} noValidate>
          {field("legalName", t("legalName"), t("legalNameHint"))}
          {field("line1", t("line1"))}
          {field("line2", t("line2"))}
          {field("postalCode", t("postalCode"))}
          {field("city", t("city"))}
          {field("country", t("country"), t("countryHint"))}
          {field("chamberOfCommerceNumber", t("coc"))}
          {field("vatNumber", t("vat"), t("vatHint"))}
          {field("billingEmail", t("billingEmail"), undefined, "email")}
          {error ? <Problem error={error} /> : null}
          {saved ? (
            <MessageBar intent="success" role="status">
              <MessageBarBody>{t("saved")}</MessageBarBody>
            </MessageBar>
          ) : null}
          <div className={styles.row}>
            <Button type="submit" appearance="primary" disabled={running} icon={running ? <Spinner size="tiny" /> : undefined}>
              {t("save")}
            </Button>
            {running ? <span role="status">{t("save")}…</span> : null}
          </div>
        </form>
      ) : null}
    </PageFrame>
  );
}
