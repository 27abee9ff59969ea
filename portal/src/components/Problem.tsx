// An API problem in words a technician understands: what happened, the API's own detail, what to do.
import { MessageBar, MessageBarBody, MessageBarTitle } from "@fluentui/react-components";
import { ApiProblem } from "../api/client";
import { useStrings } from "../i18n";
import { common } from "../strings";

function advice(status: number): keyof typeof common.en | null {
  if (status === 0) return "notReachable";
  if (status === 401) return "unauthorised";
  if (status === 403) return "forbidden";
  if (status === 404) return "notFound";
  if (status === 409 || status === 412) return "conflict";
  if (status === 429) return "throttled";
  if (status >= 500) return "serverError";
  return null;
}

export function Problem({ error }: { error: unknown }) {
  const t = useStrings(common);
  const problem = error instanceof ApiProblem ? error : new ApiProblem(0, { title: String(error) });
  const hint = advice(problem.status);
  return (
    <MessageBar intent="error" role="alert">
      <MessageBarBody>
        <MessageBarTitle>{problem.title}</MessageBarTitle>
        {problem.detail ? <div>{problem.detail}</div> : null}
        {problem.errors.map((e, i) => (
          <div key={i}>{e.field ? t("problemField", { field: e.field, message: e.message ?? "" }) : e.message}</div>
        ))}
        {hint ? <div>{t(hint)}</div> : null}
      </MessageBarBody>
    </MessageBar>
  );
}
