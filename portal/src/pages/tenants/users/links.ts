// Links within a tab that change only the search parameters, keeping the page's path and its other parameters.
import { useLocation } from "react-router";

/** `to({ user: id })` → the current path with `user` set; a null value removes the parameter. */
export function useParamLink(): (changes: Record<string, string | null>) => string {
  const location = useLocation();
  return (changes) => {
    const params = new URLSearchParams(location.search);
    for (const [name, value] of Object.entries(changes)) {
      if (value === null) params.delete(name);
      else params.set(name, value);
    }
    const search = params.toString();
    return search ? `${location.pathname}?${search}` : location.pathname;
  };
}
