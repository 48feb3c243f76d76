/**
 * Stream names of an aggregate: `<category>-<id>`, the text before the first dash being the category
 * that EventStoreDB's `$ce-<category>` streams and the consumers' stream prefixes select on.
 */
interface Categorised {
  readonly category: string;
}

export const streamOf = (aggregate: Categorised, id: string): string => `${aggregate.category}-${id}`;

export const streamPrefixOf = (aggregate: Categorised): string => `${aggregate.category}-`;

export const isStreamOf = (aggregate: Categorised, streamId: string): boolean => streamId.startsWith(streamPrefixOf(aggregate));

/** The aggregate id in one of its streams' names; the caller has checked that the stream is the aggregate's. */
export const idInStream = (aggregate: Categorised, streamId: string): string => streamId.slice(streamPrefixOf(aggregate).length);
