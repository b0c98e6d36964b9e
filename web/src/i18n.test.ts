/// <reference types="node" />
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { detectLang, dictionaries, formatDateTime, getLang, interpolate, otherLang, setLang, t, tEnum, toggleLang } from './i18n';
import { PRESENCES } from './calls/callState';
import { en, zhCN } from './strings';
import {
  ACCESS_POINT_KINDS,
  CAMERA_RECORDS,
  CAMERA_ROLES,
  CAMERA_STATES,
  CAMERA_TRANSPORTS,
  CASE_KINDS,
  CASE_STATUSES,
  CLIP_STATUSES,
  DEFAULT_ABNORMAL_TYPES,
  DEVICE_KINDS,
  DISPOSITION_FILTERS,
  EVENT_KINDS,
  ROLES,
  SITE_KINDS,
} from './types';

describe('detectLang', () => {
  it('prefers a stored choice', () => {
    assert.equal(detectLang('en', 'zh-CN'), 'en');
    assert.equal(detectLang('zh-CN', 'en-US'), 'zh-CN');
  });
  it('uses zh for any zh browser language', () => {
    for (const nav of ['zh', 'zh-CN', 'zh-TW', 'zh-Hans-CN', 'ZH-cn']) assert.equal(detectLang(null, nav), 'zh-CN', nav);
  });
  it('falls back to English', () => {
    assert.equal(detectLang(null, 'en-US'), 'en');
    assert.equal(detectLang(null, 'de'), 'en');
    assert.equal(detectLang(null, undefined), 'en');
    assert.equal(detectLang('fr', 'ja'), 'en');
  });
});

describe('dictionaries', () => {
  const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
  it('have the same keys', () => {
    assert.deepEqual(Object.keys(zhCN).sort(), Object.keys(en).sort());
  });
  it('have no empty strings and the same placeholders', () => {
    for (const key of Object.keys(en) as (keyof typeof en)[]) {
      assert.ok(en[key].trim(), `en ${key} is empty`);
      assert.ok(zhCN[key].trim(), `zh-CN ${key} is empty`);
      assert.deepEqual(placeholders(zhCN[key]), placeholders(en[key]), `placeholders of ${key}`);
    }
  });
  it('translate every enum value the API sends', () => {
    const groups: [string, readonly string[]][] = [
      ['kind', SITE_KINDS],
      ['apKind', ACCESS_POINT_KINDS],
      ['deviceKind', DEVICE_KINDS],
      ['cameraRole', CAMERA_ROLES],
      ['transport', CAMERA_TRANSPORTS],
      ['record', CAMERA_RECORDS],
      ['role', ROLES],
      ['live.state', CAMERA_STATES],
      ['eventKind', EVENT_KINDS],
      ['disposition', DISPOSITION_FILTERS],
      ['caseKind', CASE_KINDS],
      ['caseStatus', CASE_STATUSES],
      ['clipStatus', CLIP_STATUSES],
      ['abnormalType', DEFAULT_ABNORMAL_TYPES],
      ['presence', PRESENCES],
      ['calls.conn', ['connecting', 'connected', 'reconnecting', 'closed']],
      ['calls.state', ['connecting', 'answered', 'ended']],
    ];
    for (const [group, values] of groups) {
      for (const v of values) {
        assert.ok(`${group}.${v}` in en, `${group}.${v} missing`);
      }
    }
  });
  it('use the glossary words in zh-CN', () => {
    assert.equal(zhCN['kind.box'], '盒子');
    assert.equal(zhCN['user.seat'], '坐席号');
    assert.equal(zhCN['site.province'], '所在省份');
    assert.equal(zhCN['cameraRole.id_document'], '证件摄像头');
    assert.equal(zhCN['apKind.entrance'], '进场');
    assert.equal(zhCN['apKind.exit'], '出场');
    assert.equal(zhCN['review.tab.pending'], '待查看事件');
    assert.equal(zhCN['review.tab.normal'], '正常事件');
    assert.equal(zhCN['review.tab.abnormal'], '异常事件');
    assert.equal(zhCN['eventKind.door-open'], '开门事件');
    assert.equal(zhCN['eventKind.payment'], '支付成功');
    assert.equal(zhCN['eventKind.customer-entered'], '客户进入盒子');
    assert.equal(zhCN['review.col.handler'], '处理人');
    assert.equal(zhCN['review.remark'], '备注');
    assert.equal(zhCN['review.abnormalType'], '异常类型');
    assert.equal(zhCN['abnormalType.deliberate-theft'], '故意偷盗');
    assert.equal(zhCN['review.remark.restocking'], '理货员维护');
    assert.equal(zhCN['review.remark.testPayment'], '设备调试支付');
    assert.equal(zhCN['review.append'], '追加事件');
    assert.equal(zhCN['review.details'], '详情');
    assert.equal(zhCN['calls.close'], '关单');
    assert.equal(zhCN['calls.overview'], '接听概况');
    assert.equal(zhCN['calls.scene'], '现场情况');
    assert.equal(zhCN['presence.online'], '联机');
    assert.equal(zhCN['presence.busy'], '忙碌');
    assert.equal(zhCN['presence.away'], '离开');
  });
  it('lang switch label names the other language', () => {
    assert.equal(dictionaries.en['lang.other'], '中文');
    assert.equal(dictionaries['zh-CN']['lang.other'], 'English');
  });
});

describe('t', () => {
  it('looks up in the current language and interpolates', () => {
    setLang('en', false);
    assert.equal(t('list.shown', { n: 3 }), '3 shown');
    setLang('zh-CN', false);
    assert.equal(t('list.shown', { n: 3 }), '已显示 3 条');
    assert.equal(t('login.submit', undefined, 'en'), 'Sign in');
  });
  it('toggles between the two languages', () => {
    setLang('en', false);
    assert.equal(otherLang(), 'zh-CN');
    assert.equal(toggleLang(), 'zh-CN');
    assert.equal(getLang(), 'zh-CN');
    assert.equal(toggleLang(), 'en');
  });
  it('keeps unknown placeholders', () => {
    assert.equal(interpolate('{a} and {b}', { a: 1 }), '1 and {b}');
    assert.equal(interpolate('no params'), 'no params');
  });
  it('tEnum shows unknown values as they came', () => {
    assert.equal(tEnum('kind', 'box', 'zh-CN'), '盒子');
    assert.equal(tEnum('kind', 'box', 'en'), 'Store box');
    assert.equal(tEnum('kind', 'spaceport', 'en'), 'spaceport');
    assert.equal(tEnum('kind', '', 'en'), '');
    assert.equal(tEnum('kind', null, 'en'), '');
  });
});

describe('formatDateTime', () => {
  it('formats ISO times and passes through junk', () => {
    assert.equal(formatDateTime(null), '');
    assert.equal(formatDateTime(''), '');
    assert.equal(formatDateTime('not a date'), 'not a date');
    assert.match(formatDateTime('2025-03-04T05:06:00Z', 'en'), /2025/);
  });
});
