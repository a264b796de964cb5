//! MQTT messages from the broker: command topics and payloads (setpoint,
//! mode), and Home Assistant's input topics (plain and JSON payloads).
//! Never a panic; an accepted setpoint is a finite number; a refused input
//! changes no reading.
#![no_main]

use hearth::mqtt::commands::{parse, Command};
use hearth::mqtt::config::{InputTopic, InputsConfig};
use hearth::mqtt::inputs::HouseInputs;
use hearth::mqtt::topics::Topics;
use hearth_core::Timestamp;
use libfuzzer_sys::fuzz_target;

fn input(topic: &str, json_key: Option<&str>) -> Option<InputTopic> {
    Some(InputTopic {
        topic: topic.into(),
        json_key: json_key.map(str::to_string),
        max_age_s: None,
    })
}

fuzz_target!(|data: &[u8]| {
    // The first line is the topic's tail, the rest the payload.
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let (tail, payload) = (&data[..split], data.get(split + 1..).unwrap_or_default());
    let Ok(tail) = std::str::from_utf8(tail) else {
        return;
    };
    let topics = Topics::new("hearth", "homeassistant", "fuzz");
    for topic in [
        topics.zone_command("living", tail),
        topics.zone_command(tail, "setpoint"),
        tail.to_string(),
    ] {
        if let Ok(Command::SetSetpoint { setpoint_c, .. }) = parse(&topics, &topic, payload) {
            assert!(setpoint_c.is_finite());
        }
    }

    let config = InputsConfig {
        outdoor_temp_c: input("outdoor", None),
        electricity_price_per_kwh: input("price", Some("total")),
        pv_surplus_w: input("pv", Some(tail)),
        heat_pump_running: input("hp", None),
        sg_ready: input("sg", None),
        presence: input("presence", None),
        ..InputsConfig::default()
    };
    let mut house = HouseInputs::new(&config);
    let now = Timestamp(1_000_000);
    for topic in ["outdoor", "price", "pv", "hp", "sg", "presence", tail] {
        let before = house.snapshot(now);
        if house.handle(topic, payload, now).is_err() {
            assert_eq!(
                house.snapshot(now),
                before,
                "a refused input changed a reading"
            );
        }
    }
});
