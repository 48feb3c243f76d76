import type { ProjectionDefinition } from "../engine.js";
import type { ProjectionName } from "../keys.js";
import { listsProjection } from "./lists.js";
import { myPageProjection } from "./mypage.js";
import { notificationsProjection } from "./notifications.js";

export { listsProjection, LIST_INDEXES, type ListDocument, type ProductSnapshot } from "./lists.js";
export { myPageProjection, myPageIndex } from "./mypage.js";
export { notificationsProjection, NOTIFICATION_INDEXES, notificationMember, type NotificationsDocument } from "./notifications.js";
export type { ReservationDocument } from "./reservation-document.js";

/** Every projection by name (documents are opaque to the engine, hence `unknown`). */
export const PROJECTIONS: { readonly [N in ProjectionName]: ProjectionDefinition<unknown> } = {
  mypage: myPageProjection,
  lists: listsProjection,
  notifications: notificationsProjection,
};
