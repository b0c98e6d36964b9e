/// <reference types="node" />
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { maskUrlPassword } from './admin/resources';
import { applyChange, buildCreateBody, buildPatch, splitList, toFormValues, validate, type FieldDef } from './forms';

const fields: FieldDef[] = [
  { name: 'name', label: 'site.name', type: 'text', required: true },
  { name: 'kind', label: 'site.kind', type: 'select', default: 'box' },
  { name: 'site_id', label: 'common.site', type: 'select', resets: ['access_point_id'] },
  { name: 'access_point_id', label: 'common.accessPoint', type: 'select', emptyOption: 'common.none' },
  { name: 'latitude', label: 'site.latitude', type: 'number', min: -90, max: 90 },
  { name: 'channel', label: 'camera.channel', type: 'int', min: 1, required: true, visible: (v) => v.role === 'channel' },
  { name: 'role', label: 'camera.role', type: 'select', default: 'environment' },
  { name: 'enabled', label: 'common.enabled', type: 'checkbox', default: true },
  { name: 'groups', label: 'user.groups', type: 'list' },
  { name: 'site_ids', label: 'user.site_ids', type: 'multiselect' },
  { name: 'password', label: 'user.password', type: 'password', secret: true, required: 'create' },
  { name: 'email', label: 'user.email', type: 'email' },
];

const original = {
  id: 'x1',
  name: 'North exit',
  kind: 'parking',
  site_id: 's1',
  access_point_id: 'ap1',
  latitude: 22.5,
  channel: 0,
  role: 'environment',
  enabled: true,
  groups: ['night', 'parking'],
  site_ids: ['s1', 's2'],
  has_password: true,
  email: '',
};

describe('toFormValues', () => {
  it('uses defaults for a new object', () => {
    const v = toFormValues(fields, null);
    assert.equal(v.kind, 'box');
    assert.equal(v.enabled, true);
    assert.equal(v.name, '');
    assert.deepEqual(v.site_ids, []);
  });
  it('converts an existing object and never shows secrets', () => {
    const v = toFormValues(fields, { ...original, password: 'leaked?' });
    assert.equal(v.latitude, '22.5');
    assert.equal(v.groups, 'night, parking');
    assert.deepEqual(v.site_ids, ['s1', 's2']);
    assert.equal(v.password, '');
  });
  it('shows null numbers as blank', () => {
    assert.equal(toFormValues(fields, { ...original, latitude: null }).latitude, '');
  });
});

describe('buildPatch', () => {
  it('is empty when nothing changed', () => {
    assert.deepEqual(buildPatch(fields, original, toFormValues(fields, original)), {});
  });
  it('carries only changed fields, converted', () => {
    const v = toFormValues(fields, original);
    v.name = '  North exit 2 ';
    v.latitude = '';
    v.groups = 'night，day';
    v.enabled = false;
    assert.deepEqual(buildPatch(fields, original, v), {
      name: 'North exit 2',
      latitude: null,
      groups: ['night', 'day'],
      enabled: false,
    });
  });
  it('sends a secret only when typed, untrimmed', () => {
    const v = toFormValues(fields, original);
    assert.equal('password' in buildPatch(fields, original, v), false);
    v.password = ' s3cret ';
    assert.deepEqual(buildPatch(fields, original, v), { password: ' s3cret ' });
  });
  it('ignores hidden fields and sends shown ones', () => {
    const v = toFormValues(fields, original);
    v.channel = '3';
    assert.deepEqual(buildPatch(fields, original, v), {});
    v.role = 'channel';
    assert.deepEqual(buildPatch(fields, original, v), { role: 'channel', channel: 3 });
  });
  it('can clear a reference to ""', () => {
    const v = toFormValues(fields, original);
    v.access_point_id = '';
    assert.deepEqual(buildPatch(fields, original, v), { access_point_id: '' });
  });
});

describe('buildCreateBody', () => {
  it('includes shown fields, omits blank secrets and blank optional numbers', () => {
    const v = toFormValues(fields, null);
    v.name = 'A1004';
    const body = buildCreateBody(fields, v);
    assert.equal(body.name, 'A1004');
    assert.equal(body.kind, 'box');
    assert.equal(body.enabled, true);
    assert.equal('password' in body, false);
    assert.equal('latitude' in body, false);
    assert.equal('channel' in body, false);
    assert.deepEqual(body.groups, []);
    v.password = 'pw';
    v.latitude = '22.54';
    assert.equal(buildCreateBody(fields, v).password, 'pw');
    assert.equal(buildCreateBody(fields, v).latitude, 22.54);
  });
});

describe('validate', () => {
  const ok = () => ({ ...toFormValues(fields, null), name: 'x', password: 'pw' });
  it('accepts a good form', () => {
    assert.equal(validate(fields, ok(), 'create'), null);
  });
  it('requires fields, secrets only on create', () => {
    assert.equal(validate(fields, { ...ok(), name: '  ' }, 'create')?.field, 'name');
    assert.equal(validate(fields, { ...ok(), password: '' }, 'create')?.field, 'password');
    assert.equal(validate(fields, { ...ok(), password: '' }, 'edit'), null);
  });
  it('checks numbers, ranges, integers and e-mail', () => {
    assert.equal(validate(fields, { ...ok(), latitude: 'abc' }, 'create')?.message, 'form.notNumber');
    assert.equal(validate(fields, { ...ok(), latitude: '91' }, 'create')?.message, 'form.max');
    assert.equal(validate(fields, { ...ok(), role: 'channel', channel: '' }, 'create')?.message, 'form.required');
    assert.equal(validate(fields, { ...ok(), role: 'channel', channel: '0' }, 'create')?.message, 'form.min');
    assert.equal(validate(fields, { ...ok(), role: 'channel', channel: '1.5' }, 'create')?.message, 'form.notInteger');
    assert.equal(validate(fields, { ...ok(), email: 'nope' }, 'create')?.message, 'form.notEmail');
    assert.equal(validate(fields, { ...ok(), email: 'ops@example.com' }, 'create'), null);
  });
});

describe('helpers', () => {
  it('splitList', () => {
    assert.deepEqual(splitList(' a, b，c\n a ,, '), ['a', 'b', 'c']);
    assert.deepEqual(splitList(''), []);
  });
  it('applyChange clears dependent fields', () => {
    const v = toFormValues(fields, original);
    const same = applyChange(fields, v, 'site_id', 's1');
    assert.equal(same.access_point_id, 'ap1');
    const moved = applyChange(fields, v, 'site_id', 's2');
    assert.equal(moved.site_id, 's2');
    assert.equal(moved.access_point_id, '');
  });
});

describe('maskUrlPassword', () => {
  it('hides a password in the URL only', () => {
    assert.equal(maskUrlPassword('rtsp://admin:hik12345@10.0.0.21:554/Streaming/Channels/101'), 'rtsp://admin:***@10.0.0.21:554/Streaming/Channels/101');
    assert.equal(maskUrlPassword('rtsp://10.0.0.21:554/ch1'), 'rtsp://10.0.0.21:554/ch1');
    assert.equal(maskUrlPassword('rtsp://admin@10.0.0.21/ch1'), 'rtsp://admin@10.0.0.21/ch1');
    assert.equal(maskUrlPassword(''), '');
  });
});
