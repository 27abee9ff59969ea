// The typed caller of Tenantry's API: paths and bodies come from the OpenAPI document (schema.d.ts).
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];

/** An RFC 9457 problem the API answered, kept whole so a page can say what went wrong. */
export class ApiProblem extends Error {
  readonly status: number;
  readonly title: string;
  readonly detail: string | undefined;
  readonly type: string | undefined;
  readonly errors: { field?: string; message?: string }[];

  constructor(status: number, body: unknown) {
    const problem = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
    const title = typeof problem.title === "string" ? problem.title : `HTTP ${status}`;
    super(title);
    this.status = status;
    this.title = title;
    this.detail = typeof problem.detail === "string" ? problem.detail : undefined;
    this.type = typeof problem.type === "string" ? problem.type : undefined;
    this.errors = Array.isArray(problem.errors) ? (problem.errors as { field?: string; message?: string }[]) : [];
  }
}

let tokenSource: (() => Promise<string>) | null = null;

/** Set once signed in: every call then carries the person's access token. */
export function setTokenSource(source: () => Promise<string>): void {
  tokenSource = source;
}

const bearer: Middleware = {
  async onRequest({ request }) {
    if (tokenSource) request.headers.set("Authorization", `Bearer ${await tokenSource()}`);
    return request;
  },
};

export const api = createClient<paths>({ baseUrl: window.location.origin });
api.use(bearer);

type Answer<T> = { data?: T; error?: unknown; response: Response };

/** The answer's body, or an ApiProblem thrown for any 4xx/5xx (or a network failure). */
export async function call<T>(pending: Promise<Answer<T>>): Promise<T> {
  let answer: Answer<T>;
  try {
    answer = await pending;
  } catch (failure) {
    throw new ApiProblem(0, { title: "The service could not be reached.", detail: String(failure) });
  }
  if (!answer.response.ok) throw new ApiProblem(answer.response.status, answer.error);
  return answer.data as T;
}

/** Saves a blob the API answered (CSV export, PDF) under a file name, as a download. */
export function download(blob: Blob, fileName: string): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = fileName;
  link.click();
  URL.revokeObjectURL(url);
}
