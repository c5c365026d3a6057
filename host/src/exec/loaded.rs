//! An operator's code as the executor holds it: a checked component or a
//! registered native operator, instantiated once per subtask. Here, above
//! both `guest` and `operator`, so that neither needs to know the other's
//! way of making instances.

use crate::error::Result;
use crate::guest::{GuestInstance, LoadedComponent};
use crate::job::Limits;
use crate::operator::{InstanceContext, NativeOperator, OperatorInstance, StateChunk};

/// An operator's code, ready to instantiate once per subtask.
#[derive(Clone)]
pub(crate) enum LoadedOperator {
    Component(LoadedComponent),
    Native(NativeOperator),
}

impl LoadedOperator {
    /// Identifies the code in a checkpoint's job graph fingerprint.
    pub(crate) fn digest(&self) -> [u8; 32] {
        match self {
            LoadedOperator::Component(component) => component.digest(),
            LoadedOperator::Native(native) => native.fingerprint(),
        }
    }

    /// One subtask's instance; components run under `limits`, native code
    /// is not limited.
    pub(crate) fn instantiate(
        &self,
        context: &InstanceContext,
        restored: Vec<StateChunk>,
        limits: &Limits,
    ) -> Result<Box<dyn OperatorInstance>> {
        match self {
            LoadedOperator::Component(component) => {
                Ok(Box::new(GuestInstance::new(component, context, restored, limits)?))
            }
            LoadedOperator::Native(native) => native.instantiate(context, restored),
        }
    }
}
