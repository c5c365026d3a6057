// The component's entry module: exports the session operator as the WIT
// interface `weir:operator/operator`. Built by `cargo xtask build-guests`
// into target/wasm32-wasip2/release/session-js.wasm.

import { exportOperator } from '../../guest-sdk/js/src/component.js';
import { Sessions } from './session.js';

export const operator = exportOperator(Sessions);
