/**
 * What each Idempotency-Key was first used for, where the events cannot say it: a `pay` request's
 * only field is a payment token, a secret that must not reach the event log, so its fingerprint is
 * kept here instead. The same key with another fingerprint is another request (422), not a repeat.
 */
export interface IdempotencyRecords {
  /** Records `fingerprint` under `scope` unless one is there; returns the one recorded before, if any. */
  remember(scope: string, fingerprint: string): Promise<string | undefined>;
}

export interface PaymentKeyRecords {
  readonly records: IdempotencyRecords;
  /** A keyed hash of the token: equal tokens give equal fingerprints, and the token cannot be recovered. */
  readonly fingerprint: (token: string) => string;
}
