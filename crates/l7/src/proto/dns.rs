//! stub
use super::{Ctx, ProtocolParser};
use crate::types::{Direction, Protocol};
/// stub
#[derive(Debug, Default)]
pub struct Dns;
impl Dns { /// new
 pub fn new() -> Dns { Dns } }
impl ProtocolParser for Dns {
    fn protocol(&self) -> Protocol { Protocol::Dns }
    fn feed(&mut self, _ctx: &mut Ctx<'_>, _dir: Direction, _data: &[u8], _gap: u64) {}
    fn lost(&mut self, _ctx: &mut Ctx<'_>) {}
    fn close(&mut self, _ctx: &mut Ctx<'_>) {}
    fn memory(&self) -> usize { 0 }
}
