// The component's entry module: exports the deduplicator as the WIT
// interface `weir:operator/operator`. Built by `cargo xtask build-guests`
// into target/wasm32-wasip2/release/dedup-js.wasm.

import { exportOperator } from '../../guest-sdk/js/src/component.js';
import { Dedup } from './dedup.js';

export const operator = exportOperator(Dedup);
