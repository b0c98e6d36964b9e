// The abnormal-open form's rules (product §2): a reason, a remark, and at an
// exit lane 1–4 ID-document snapshots and 1–4 scene snapshots taken during
// the call. The server checks the same (evidence_required; a 5th snapshot of
// a role is 409). Pure.

import type { Camera, CameraRole, Evidence } from '../types';
import type { SnapshotRole } from '../cases';
import { isAbnormalReason, REASON_MAX_BYTES, utf8Bytes } from './robot';

/** Snapshots of one role a case takes at most. */
export const MAX_SNAPS_PER_ROLE = 4;

/** The evidence kind of a call snapshot: "snapshot-scene", "snapshot-id_document". */
export function snapshotRoleOf(ev: Pick<Evidence, 'kind'>): SnapshotRole | null {
  if (ev.kind === 'snapshot-scene') return 'scene';
  if (ev.kind === 'snapshot-id_document') return 'id_document';
  return null;
}

export interface SnapCounts {
  scene: number;
  id_document: number;
}

export function countSnaps(snaps: readonly Pick<Evidence, 'kind'>[]): SnapCounts {
  const out: SnapCounts = { scene: 0, id_document: 0 };
  for (const ev of snaps) {
    const r = snapshotRoleOf(ev);
    if (r) out[r]++;
  }
  return out;
}

export function canTakeSnap(counts: SnapCounts, role: SnapshotRole): boolean {
  return counts[role] < MAX_SNAPS_PER_ROLE;
}

/** "2/4" */
export function snapCountText(n: number): string {
  return `${Math.min(n, MAX_SNAPS_PER_ROLE)}/${MAX_SNAPS_PER_ROLE}`;
}

export interface AbnormalForm {
  reason: string;
  remark: string;
}

export type AbnormalProblem = 'reason' | 'remark' | 'remark_too_long' | 'id_document' | 'scene';

/** What still keeps the form from being sent (empty: it can go). */
export function abnormalProblems(form: AbnormalForm, exit: boolean, counts: SnapCounts): AbnormalProblem[] {
  const out: AbnormalProblem[] = [];
  if (!isAbnormalReason(form.reason)) out.push('reason');
  if (!form.remark.trim()) out.push('remark');
  else if (utf8Bytes(form.remark.trim()) > REASON_MAX_BYTES) out.push('remark_too_long');
  if (exit) {
    if (counts.id_document < 1) out.push('id_document');
    if (counts.scene < 1) out.push('scene');
  }
  return out;
}

/** Where the call's robot stands: its device and access point. */
export interface RobotLane {
  deviceId: string;
  accessPointId: string;
}

/**
 * The camera of a role for the robot's lane: one linked to the robot, else
 * to its access point, else one of the site linked to neither, else any of
 * that role.
 */
export function laneCamera<T extends Pick<Camera, 'role' | 'device_id' | 'access_point_id' | 'enabled'>>(
  cams: readonly T[],
  role: CameraRole,
  lane: RobotLane,
): T | null {
  const of = cams.filter((c) => c.role === role && c.enabled !== false);
  return (
    of.find((c) => !!lane.deviceId && c.device_id === lane.deviceId) ??
    of.find((c) => !!lane.accessPointId && c.access_point_id === lane.accessPointId) ??
    of.find((c) => !c.device_id && !c.access_point_id) ??
    of[0] ??
    null
  );
}

/** The abnormal-open scene camera: the lane's environment camera, else its gate camera. */
export function abnormalSceneCamera<T extends Pick<Camera, 'role' | 'device_id' | 'access_point_id' | 'enabled'>>(
  cams: readonly T[],
  lane: RobotLane,
): T | null {
  return laneCamera(cams, 'environment', lane) ?? laneCamera(cams, 'gate', lane);
}

export function abnormalIdCamera<T extends Pick<Camera, 'role' | 'device_id' | 'access_point_id' | 'enabled'>>(
  cams: readonly T[],
  lane: RobotLane,
): T | null {
  return laneCamera(cams, 'id_document', lane);
}
