//! stub
use super::{Ctx, ProtocolParser};
use crate::types::{Direction, Protocol};
/// stub
#[derive(Debug, Default)]
pub struct Postgres;
impl Postgres { /// new
 pub fn new() -> Postgres { Postgres } }
impl ProtocolParser for Postgres {
    fn protocol(&self) -> Protocol { Protocol::Dns }
    fn feed(&mut self, _ctx: &mut Ctx<'_>, _dir: Direction, _data: &[u8], _gap: u64) {}
    fn lost(&mut self, _ctx: &mut Ctx<'_>) {}
    fn close(&mut self, _ctx: &mut Ctx<'_>) {}
    fn memory(&self) -> usize { 0 }
}
