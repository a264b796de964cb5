//! A zone's room probe and a board's heatsink probes share the Pi's 1-wire
//! bus: a room must never be read from a heatsink (the room would read hot
//! and be starved of heat), so a zone names its probe by id whenever any
//! board has heatsink probes.

use crate::config::{ValidatedZone, ZoneSensor};
use hearth_board::config::ConfiguredBoard;
use hearth_linux::ProbeSelector;

/// `Err((key, reason))` when a zone's sensor is, or may be, a heatsink probe.
pub fn check_room_probes(
    zones: &[ValidatedZone],
    boards: &[ConfiguredBoard],
) -> Result<(), (String, String)> {
    let heatsinks: Vec<(&str, &str)> = boards
        .iter()
        .flat_map(|b| {
            b.profile
                .peripherals()
                .heatsink_probes
                .iter()
                .map(move |id| (b.id.as_str(), id.as_str()))
        })
        .collect();
    if heatsinks.is_empty() {
        return Ok(());
    }
    for (i, zone) in zones.iter().enumerate() {
        let key = format!("zone[{i}].sensor");
        match &zone.sensor {
            Some(ZoneSensor::Ds18b20(ProbeSelector::First)) => {
                return Err((
                    key,
                    "\"first\" may pick a board's heatsink probe: name the room probe by its id (`ls /sys/bus/w1/devices/`)".into(),
                ));
            }
            Some(ZoneSensor::Ds18b20(ProbeSelector::Id(id))) => {
                if let Some((board, _)) = heatsinks.iter().find(|(_, h)| h == id) {
                    return Err((
                        key,
                        format!("{id} is board {board}'s heatsink probe, not a room thermometer"),
                    ));
                }
            }
            None => {}
        }
    }
    Ok(())
}
