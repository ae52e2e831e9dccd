/** DI tokens for values that are not classes. */
export const STORE = Symbol('cordon.store');
export const CONFIG = Symbol('cordon.config');
export const LOGGER = Symbol('cordon.logger');
