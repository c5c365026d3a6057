// The component's entry module: exports the counter as the WIT interface
// `weir:operator/operator`. Built by `cargo xtask build-guests` into
// target/wasm32-wasip2/release/counter-js.wasm.

import { exportOperator } from '../../guest-sdk/js/src/component.js';
import { Counter } from './counter.js';

export const operator = exportOperator(Counter);
