import type { sendUnaryData, ServerUnaryCall } from "@grpc/grpc-js";
import type { EventLog } from "../../log/event-log.js";
import type { DeleteOutcome, ExpectedRevision } from "../../log/types.js";
import { readStreamName } from "../convert.js";
import { invalidArgument, projectionStreamWriteError, streamDeletedError, wrongExpectedVersionError } from "../errors.js";
import { isProjectionStream } from "../../log/standard-projections.js";
import { streamsPb, type DeleteReq, type DeleteResp, type TombstoneReq, type TombstoneResp } from "../proto.js";
import { currentToTrailer, expectedToTrailer, readExpectedRevision } from "./expected-revision.js";
import { guardUnary } from "../storage-guard.js";

type DeletionOptions = NonNullable<ReturnType<DeleteReq["getOptions"]>> | NonNullable<ReturnType<TombstoneReq["getOptions"]>>;

const deletion =
  <Req extends DeleteReq | TombstoneReq, Resp>(
    perform: (streamName: string, expected: ExpectedRevision) => DeleteOutcome,
    respond: (position: number) => Resp,
  ) =>
  (call: ServerUnaryCall<Req, Resp>, callback: sendUnaryData<Resp>): void => {
    const options: DeletionOptions | undefined = call.request.getOptions();
    const streamName = readStreamName(options?.getStreamIdentifier());
    if (!options || streamName === undefined || streamName === "") {
      callback(invalidArgument("Delete requests need a stream name"));
      return;
    }
    if (isProjectionStream(streamName)) {
      callback(projectionStreamWriteError(streamName));
      return;
    }
    const expected = readExpectedRevision(options, () => (options.hasRevision() ? options.getRevision() : undefined));
    const outcome = perform(streamName, expected);
    switch (outcome.kind) {
      case "success":
        return callback(null, respond(outcome.position));
      case "stream_deleted":
        return callback(streamDeletedError(streamName));
      case "wrong_expected_version":
        return callback(wrongExpectedVersionError(streamName, expectedToTrailer(outcome.expected), currentToTrailer(outcome.current)));
    }
  };

export const deleteHandler = (
  log: EventLog,
): ((call: ServerUnaryCall<DeleteReq, DeleteResp>, callback: sendUnaryData<DeleteResp>) => void) =>
  guardUnary(
    "delete",
    deletion<DeleteReq, DeleteResp>(
      (name, expected) => log.delete(name, expected),
      (at) => {
        const response = new streamsPb.DeleteResp();
        const position = new streamsPb.DeleteResp.Position();
        position.setCommitPosition(String(at));
        position.setPreparePosition(String(at));
        response.setPosition(position);
        return response;
      },
    ),
  );

export const tombstoneHandler = (
  log: EventLog,
): ((call: ServerUnaryCall<TombstoneReq, TombstoneResp>, callback: sendUnaryData<TombstoneResp>) => void) =>
  guardUnary(
    "tombstone",
    deletion<TombstoneReq, TombstoneResp>(
      (name, expected) => log.tombstone(name, expected),
      (at) => {
        const response = new streamsPb.TombstoneResp();
        const position = new streamsPb.TombstoneResp.Position();
        position.setCommitPosition(String(at));
        position.setPreparePosition(String(at));
        response.setPosition(position);
        return response;
      },
    ),
  );
