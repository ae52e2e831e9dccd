// SPDX-License-Identifier: Apache-2.0
/** Schedules: parse (parse.ts), timezone math (zone.ts), open intervals (windows.ts), the state at an instant (state.ts), a bundle's entries at an instant (gate.ts). */
export * from './parse';
export * from './windows';
export * from './state';
export { timezoneError } from './zone';
export * from './gate';
