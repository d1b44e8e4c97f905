// Label filtering as ListContainers / ListPodSandbox apply it: every selector pair must match.
import type { Json, JsonObject } from './records.js';

/** The CRI `labels` of a record's config (`{}` when absent or malformed). */
export function labelsOf(record: { readonly config: JsonObject }): Readonly<Record<string, string>> {
  const labels: Json | undefined = record.config.labels;
  if (labels === null || typeof labels !== 'object' || Array.isArray(labels)) return {};
  return Object.fromEntries(Object.entries(labels).filter(([, v]) => typeof v === 'string')) as Record<string, string>;
}

export function matchesLabels(labels: Readonly<Record<string, string>>, selector: Readonly<Record<string, string>> | undefined): boolean {
  if (!selector) return true;
  return Object.entries(selector).every(([k, v]) => Object.hasOwn(labels, k) && labels[k] === v);
}
