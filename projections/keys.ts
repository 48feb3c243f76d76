/**
 * The Redis key layout of the read models (projections/README.md). Every projection keeps its data
 * under a *version* prefix; a pointer says which version is live, and a second one which version a
 * rebuild is filling:
 *
 *   <root>:<projection>:live                    -> "v0", "v1718000000000", …
 *   <root>:<projection>:building                -> the version a running rebuild fills (expires unless renewed)
 *   <root>:<projection>:<version>:doc:<docId>   -> one JSON document: { c: {stream: revision}, d: … }
 *   <root>:<projection>:<version>:idx:<name>    -> a sorted set of document members, score = a time in ms
 */

export const PROJECTION_NAMES = ["mypage", "lists", "notifications"] as const;
export type ProjectionName = (typeof PROJECTION_NAMES)[number];

export const DEFAULT_KEY_ROOT = "rm";

/** The version every projection starts with when nothing was ever rebuilt. */
export const INITIAL_VERSION = "v0";

const VERSION = /^v\d+$/;

export const isVersion = (value: string): boolean => VERSION.test(value);

/** User ids are JWT subjects (any text): encoded so that `:` inside one cannot make two keys collide. */
export const keyPart = (value: string): string => encodeURIComponent(value);

export class ProjectionKeys {
  readonly live: string;
  readonly building: string;
  /** Matches every key of every version (and the pointers). */
  readonly pattern: string;

  constructor(
    readonly projection: ProjectionName,
    readonly root: string = DEFAULT_KEY_ROOT,
  ) {
    this.live = `${root}:${projection}:live`;
    this.building = `${root}:${projection}:building`;
    this.pattern = `${root}:${projection}:*`;
  }

  prefix(version: string): string {
    return `${this.root}:${this.projection}:${version}:`;
  }

  doc(version: string, docId: string): string {
    return `${this.prefix(version)}doc:${docId}`;
  }

  index(version: string, name: string): string {
    return `${this.prefix(version)}idx:${name}`;
  }

  /** The version a key belongs to, or undefined for the pointers and foreign keys. */
  versionOf(key: string): string | undefined {
    const head = `${this.root}:${this.projection}:`;
    if (!key.startsWith(head)) return undefined;
    const version = key.slice(head.length).split(":", 1)[0] ?? "";
    return isVersion(version) && key.length > head.length + version.length ? version : undefined;
  }
}
