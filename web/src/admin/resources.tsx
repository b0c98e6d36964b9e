// One config per admin page. Field names follow the API contract; each input's
// id is "<singular>-<field>", e.g. #site-name, #device-sip_password.

import type { Option } from '../forms';
import { formatDateTime, t, tEnum } from '../i18n';
import type { MessageKey } from '../strings';
import {
  ACCESS_POINT_KINDS,
  CAMERA_RECORDS,
  CAMERA_ROLES,
  CAMERA_TRANSPORTS,
  DEVICE_KINDS,
  ROLES,
  SITE_KINDS,
  type AccessPoint,
  type Camera,
  type CreatedToken,
  type Device,
  type Site,
  type Token,
  type User,
} from '../types';
import type { ResourceConfig } from './config';
import { accessPointOptions, deviceOptions, nameOf, siteOptions } from './lookups';
import { TokenCreated } from './TokenCreated';

/** "rtsp://user:pw@host/…" → "rtsp://user:***@host/…", so a password typed into the URL isn't on screen. */
export function maskUrlPassword(url: string): string {
  return (url ?? '').replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/?#@]*):[^@/?#]*@/i, '$1:***@');
}

function enumOptions(group: string, values: readonly string[]): () => Option[] {
  return () => values.map((v) => ({ value: v, label: tEnum(group, v) }));
}

function flag(on: boolean, yes: MessageKey, no: MessageKey) {
  return <span class={on ? 'badge badge-on' : 'badge badge-off'}>{on ? t(yes) : t(no)}</span>;
}

function text(v: string | null | undefined) {
  return v ? v : <span class="muted">{t('common.dash')}</span>;
}

// ── Sites ─────────────────────────────────────────────────────────────────
export const sitesConfig: ResourceConfig<Site> = {
  resource: 'sites',
  singular: 'site',
  title: 'sites.title',
  newLabel: 'sites.new',
  createTitle: 'sites.createTitle',
  editTitle: 'sites.editTitle',
  lookups: [],
  columns: [
    { key: 'code', label: 'site.code', render: (s) => text(s.code), className: 'mono' },
    { key: 'name', label: 'site.name', render: (s) => s.name },
    { key: 'kind', label: 'site.kind', render: (s) => tEnum('kind', s.kind) },
    { key: 'region', label: 'sites.region', render: (s) => text([s.province, s.city, s.district].filter(Boolean).join(' ')) },
    { key: 'compound', label: 'site.compound', render: (s) => text(s.compound) },
    {
      key: 'coords',
      label: 'dashboard.coordinates',
      render: (s) => (s.latitude !== null && s.longitude !== null ? `${s.latitude}, ${s.longitude}` : text('')),
      className: 'mono',
    },
    { key: 'emergency_contact', label: 'site.emergency_contact', render: (s) => text(s.emergency_contact) },
  ],
  filters: [
    { name: 'kind', label: 'site.kind', type: 'select', options: enumOptions('kind', SITE_KINDS) },
    { name: 'q', label: 'filter.search', type: 'text', placeholder: 'sites.searchPlaceholder' },
  ],
  fields: [
    { name: 'name', label: 'site.name', type: 'text', required: true },
    { name: 'kind', label: 'site.kind', type: 'select', required: true, default: 'box', options: enumOptions('kind', SITE_KINDS) },
    { name: 'code', label: 'site.code', type: 'text', placeholder: 'A1004' },
    { name: 'province', label: 'site.province', type: 'text' },
    { name: 'city', label: 'site.city', type: 'text' },
    { name: 'district', label: 'site.district', type: 'text' },
    { name: 'compound', label: 'site.compound', type: 'text' },
    { name: 'address', label: 'site.address', type: 'text', span: 2 },
    { name: 'latitude', label: 'site.latitude', type: 'number', step: 'any', min: -90, max: 90, placeholder: '22.54310' },
    { name: 'longitude', label: 'site.longitude', type: 'number', step: 'any', min: -180, max: 180, placeholder: '113.93660' },
    { name: 'emergency_contact', label: 'site.emergency_contact', type: 'text' },
    { name: 'tariff', label: 'site.tariff', type: 'textarea', wide: true },
    { name: 'notes', label: 'site.notes', type: 'textarea', wide: true },
  ],
  formColumns: 3,
  deleteConfirm: 'sites.deleteConfirm',
  describe: (s) => s.name,
};

// ── Access points ─────────────────────────────────────────────────────────
export const accessPointsConfig: ResourceConfig<AccessPoint> = {
  resource: 'access-points',
  singular: 'access-point',
  title: 'accessPoints.title',
  newLabel: 'accessPoints.new',
  createTitle: 'accessPoints.createTitle',
  editTitle: 'accessPoints.editTitle',
  lookups: ['sites'],
  columns: [
    { key: 'name', label: 'accessPoint.name', render: (a) => a.name },
    { key: 'kind', label: 'accessPoint.kind', render: (a) => tEnum('apKind', a.kind) },
    { key: 'site', label: 'common.site', render: (a, l) => nameOf(l.sites, a.site_id) },
  ],
  filters: [{ name: 'site_id', label: 'common.site', type: 'select', options: siteOptions }],
  fields: [
    { name: 'site_id', label: 'common.site', type: 'select', required: true, options: siteOptions },
    { name: 'name', label: 'accessPoint.name', type: 'text', required: true },
    { name: 'kind', label: 'accessPoint.kind', type: 'select', required: true, default: 'entrance', options: enumOptions('apKind', ACCESS_POINT_KINDS) },
  ],
  deleteConfirm: 'accessPoints.deleteConfirm',
  describe: (a) => a.name,
};

// ── Devices (robots, intercoms) ───────────────────────────────────────────
export const devicesConfig: ResourceConfig<Device> = {
  resource: 'devices',
  singular: 'device',
  title: 'devices.title',
  newLabel: 'devices.new',
  createTitle: 'devices.createTitle',
  editTitle: 'devices.editTitle',
  lookups: ['sites', 'accessPoints'],
  columns: [
    { key: 'name', label: 'device.name', render: (d) => d.name },
    { key: 'kind', label: 'device.kind', render: (d) => tEnum('deviceKind', d.kind) },
    { key: 'site', label: 'common.site', render: (d, l) => nameOf(l.sites, d.site_id) },
    { key: 'access_point', label: 'common.accessPoint', render: (d, l) => nameOf(l.accessPoints, d.access_point_id) },
    { key: 'factory_code', label: 'device.factory_code', render: (d) => text(d.factory_code), className: 'mono' },
    { key: 'phone', label: 'device.phone', render: (d) => text(d.phone), className: 'mono' },
    { key: 'sip_username', label: 'device.sip_username', render: (d) => text(d.sip_username), className: 'mono' },
    { key: 'sip_password', label: 'device.sip_password', render: (d) => flag(d.has_sip_password, 'secret.set', 'secret.notSet') },
    { key: 'enabled', label: 'common.status', render: (d) => flag(d.enabled, 'status.enabled', 'status.disabled') },
  ],
  filters: [{ name: 'site_id', label: 'common.site', type: 'select', options: siteOptions }],
  fields: [
    { name: 'site_id', label: 'common.site', type: 'select', required: true, options: siteOptions, resets: ['access_point_id'] },
    {
      name: 'access_point_id',
      label: 'common.accessPoint',
      type: 'select',
      emptyOption: 'common.none',
      options: (l, v) => accessPointOptions(l, String(v.site_id ?? '')),
    },
    { name: 'name', label: 'device.name', type: 'text', required: true },
    { name: 'kind', label: 'device.kind', type: 'select', required: true, default: 'robot', options: enumOptions('deviceKind', DEVICE_KINDS) },
    { name: 'factory_code', label: 'device.factory_code', type: 'text' },
    { name: 'phone', label: 'device.phone', type: 'tel' },
    { name: 'sip_username', label: 'device.sip_username', type: 'text' },
    { name: 'sip_password', label: 'device.sip_password', type: 'password', secret: true, secretSetFlag: 'has_sip_password' },
    { name: 'enabled', label: 'common.enabled', type: 'checkbox', default: true },
  ],
  deleteConfirm: 'devices.deleteConfirm',
  describe: (d) => d.name,
};

// ── Cameras ───────────────────────────────────────────────────────────────
export const camerasConfig: ResourceConfig<Camera> = {
  resource: 'cameras',
  singular: 'camera',
  title: 'cameras.title',
  newLabel: 'cameras.new',
  createTitle: 'cameras.createTitle',
  editTitle: 'cameras.editTitle',
  lookups: ['sites', 'accessPoints', 'devices'],
  columns: [
    { key: 'name', label: 'camera.name', render: (c) => c.name },
    {
      key: 'role',
      label: 'camera.role',
      render: (c) => (c.role === 'channel' ? t('camera.channelN', { n: c.channel }) : tEnum('cameraRole', c.role)),
    },
    { key: 'site', label: 'common.site', render: (c, l) => nameOf(l.sites, c.site_id) },
    { key: 'device', label: 'common.device', render: (c, l) => nameOf(l.devices, c.device_id) },
    {
      key: 'url',
      label: 'camera.url',
      render: (c) => {
        const shown = maskUrlPassword(c.url);
        return (
          <span class="mono cell-url" title={shown}>
            {shown}
          </span>
        );
      },
    },
    { key: 'transport', label: 'camera.transport', render: (c) => tEnum('transport', c.transport) },
    { key: 'record', label: 'camera.record', render: (c) => tEnum('record', c.record) },
    { key: 'enabled', label: 'common.status', render: (c) => flag(c.enabled, 'status.enabled', 'status.disabled') },
  ],
  filters: [
    { name: 'site_id', label: 'common.site', type: 'select', options: siteOptions },
    { name: 'role', label: 'camera.role', type: 'select', options: enumOptions('cameraRole', CAMERA_ROLES) },
  ],
  fields: [
    { name: 'site_id', label: 'common.site', type: 'select', required: true, options: siteOptions, resets: ['access_point_id', 'device_id'] },
    {
      name: 'access_point_id',
      label: 'common.accessPoint',
      type: 'select',
      emptyOption: 'common.none',
      options: (l, v) => accessPointOptions(l, String(v.site_id ?? '')),
    },
    {
      name: 'device_id',
      label: 'common.device',
      type: 'select',
      emptyOption: 'common.none',
      options: (l, v) => deviceOptions(l, String(v.site_id ?? '')),
    },
    { name: 'name', label: 'camera.name', type: 'text', required: true },
    { name: 'url', label: 'camera.url', type: 'url', required: true, wide: true, placeholder: 'rtsp://192.168.1.64:554/Streaming/Channels/101' },
    { name: 'substream_url', label: 'camera.substreamUrl', type: 'url', wide: true, placeholder: 'rtsp://192.168.1.64:554/Streaming/Channels/102' },
    { name: 'username', label: 'camera.username', type: 'text' },
    { name: 'password', label: 'camera.password', type: 'password', secret: true, secretSetFlag: 'has_password' },
    { name: 'role', label: 'camera.role', type: 'select', required: true, default: 'environment', options: enumOptions('cameraRole', CAMERA_ROLES) },
    { name: 'channel', label: 'camera.channel', type: 'int', required: true, min: 1, default: '1', visible: (v) => v.role === 'channel' },
    { name: 'transport', label: 'camera.transport', type: 'select', required: true, default: 'auto', options: enumOptions('transport', CAMERA_TRANSPORTS) },
    { name: 'record', label: 'camera.record', type: 'select', required: true, default: 'events', options: enumOptions('record', CAMERA_RECORDS) },
    { name: 'enabled', label: 'common.enabled', type: 'checkbox', default: true },
  ],
  deleteConfirm: 'cameras.deleteConfirm',
  describe: (c) => c.name,
};

// ── Users ─────────────────────────────────────────────────────────────────
export const usersConfig: ResourceConfig<User> = {
  resource: 'users',
  singular: 'user',
  title: 'users.title',
  newLabel: 'users.new',
  createTitle: 'users.createTitle',
  editTitle: 'users.editTitle',
  lookups: ['sites'],
  columns: [
    { key: 'username', label: 'user.username', render: (u) => u.username, className: 'mono' },
    { key: 'display_name', label: 'user.display_name', render: (u) => text(u.display_name) },
    { key: 'role', label: 'user.role', render: (u) => <span class={`badge role-${u.role}`}>{tEnum('role', u.role)}</span> },
    { key: 'seat', label: 'user.seat', render: (u) => text(u.seat), className: 'mono' },
    { key: 'groups', label: 'user.groups', render: (u) => text((u.groups ?? []).join(', ')) },
    {
      key: 'sites',
      label: 'user.site_ids',
      render: (u, l) => text((u.site_ids ?? []).map((id) => nameOf(l.sites, id)).join(', ')),
    },
    { key: 'disabled', label: 'common.status', render: (u) => flag(!u.disabled, 'status.active', 'status.disabled') },
  ],
  filters: [{ name: 'role', label: 'user.role', type: 'select', options: enumOptions('role', ROLES) }],
  fields: [
    { name: 'username', label: 'user.username', type: 'text', required: true },
    { name: 'display_name', label: 'user.display_name', type: 'text' },
    { name: 'role', label: 'user.role', type: 'select', required: true, default: 'agent', options: enumOptions('role', ROLES) },
    { name: 'password', label: 'user.password', type: 'password', secret: true, required: 'create' },
    { name: 'seat', label: 'user.seat', type: 'text' },
    { name: 'email', label: 'user.email', type: 'email' },
    { name: 'phone', label: 'user.phone', type: 'tel' },
    { name: 'groups', label: 'user.groups', type: 'list', hint: 'user.groupsHint' },
    { name: 'site_ids', label: 'user.site_ids', type: 'multiselect', options: siteOptions, wide: true, hint: 'user.siteIdsHint' },
    { name: 'disabled', label: 'user.disabled', type: 'checkbox', default: false },
  ],
  deleteConfirm: 'users.deleteConfirm',
  describe: (u) => u.username,
};

// ── API tokens ────────────────────────────────────────────────────────────
export const tokensConfig: ResourceConfig<Token> = {
  resource: 'tokens',
  singular: 'token',
  title: 'tokens.title',
  newLabel: 'tokens.new',
  createTitle: 'tokens.createTitle',
  editTitle: 'tokens.createTitle',
  lookups: ['users'],
  editable: false,
  columns: [
    { key: 'name', label: 'token.name', render: (k) => k.name },
    { key: 'user', label: 'token.user', render: (k, l) => nameOf(l.users, k.user_id) },
    { key: 'created_at', label: 'common.created_at', render: (k) => formatDateTime(k.created_at) },
    { key: 'expires_at', label: 'token.expires_at', render: (k) => (k.expires_at ? formatDateTime(k.expires_at) : t('token.never')) },
    { key: 'last_used_at', label: 'token.last_used_at', render: (k) => (k.last_used_at ? formatDateTime(k.last_used_at) : t('token.neverUsed')) },
  ],
  filters: [],
  fields: [
    { name: 'name', label: 'token.name', type: 'text', required: true },
    { name: 'expires_in_days', label: 'token.expires_in_days', type: 'int', min: 1, max: 3650, hint: 'token.expiresHint' },
  ],
  formColumns: 1,
  deleteLabel: 'tokens.revoke',
  deleteConfirm: 'tokens.revokeConfirm',
  describe: (k) => k.name,
  renderCreated: (created, done) => <TokenCreated token={created as CreatedToken} onDone={done} />,
};
