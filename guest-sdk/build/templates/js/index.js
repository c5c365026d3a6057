// The component's entry module: exports the operator as the WIT interface
// `weir:operator/operator`. `weir build` bundles it (with the SDK from
// node_modules) and compiles it into build/{{name}}.wasm.

import { exportOperator } from '@weir/operator/component';
import { Totals } from './operator.js';

export const operator = exportOperator(Totals);
