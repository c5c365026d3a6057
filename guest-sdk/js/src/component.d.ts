// '@weir/operator/component': everything '@weir/operator' exports, with the
// log wired to the host's `log` import. For a component's entry module only.
export * from './index.js';
