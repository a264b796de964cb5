#!/usr/bin/env bash
# Checks that a compiled device tree carries Hearth's bus setup
# (hearth-buses.dtsi); prints one line per fact, exits 1 on any miss.
#   check.sh DTB
# Used by merge.sh at build time and by the smoke test on the boot partition.
set -euo pipefail
dtb=$1
bad=0
get() { fdtget "$@" 2>/dev/null || echo "<none>"; }
want() { # description got expected
  if [ "$2" = "$3" ]; then echo "  ok   $1"; else echo "  FAIL $1: got '$2', want '$3'"; bad=$((bad + 1)); fi
}
gpio=/soc/gpio@7e200000
gpio_ph=$(get -t u "$dtb" $gpio phandle)
ph() { fdtget -t u "$dtb" "$gpio/$1" phandle 2>/dev/null || echo "<no $1>"; }
want "uart0 (PL011) enabled" "$(get -ts "$dtb" /soc/serial@7e201000 status)" okay
want "uart0 pins: GPIO 14/15, ALT0" "$(get -t u "$dtb" $gpio/hearth-uart0-gpio14 brcm,pins) / $(get -t u "$dtb" $gpio/hearth-uart0-gpio14 brcm,function)" "14 15 / 4"
want "uart0 uses those pins" "$(get -t u "$dtb" /soc/serial@7e201000 pinctrl-0)" "$(ph hearth-uart0-gpio14)"
want "Bluetooth off the PL011" "$(get -ts "$dtb" /soc/serial@7e201000/bluetooth status)" disabled
want "mini UART off (GPIO 14/15 belong to the PL011)" "$(get -ts "$dtb" /soc/serial@7e215040 status)" disabled
want "i2c1 enabled at 100 kHz" "$(get -ts "$dtb" /soc/i2c@7e804000 status) $(get -t u "$dtb" /soc/i2c@7e804000 clock-frequency)" "okay 100000"
want "PWM0 enabled" "$(get -ts "$dtb" /soc/pwm@7e20c000 status)" okay
want "PWM pins: GPIO 18/19, ALT5" "$(get -t u "$dtb" $gpio/hearth-pwm0-gpio18 brcm,pins) / $(get -t u "$dtb" $gpio/hearth-pwm0-gpio18 brcm,function)" "18 19 / 2"
want "PWM uses those pins" "$(get -t u "$dtb" /soc/pwm@7e20c000 pinctrl-0)" "$(ph hearth-pwm0-gpio18)"
want "1-wire: w1-gpio on GPIO 4" "$(get -ts "$dtb" /hearth-onewire compatible) $(get -t u "$dtb" /hearth-onewire gpios)" "w1-gpio $gpio_ph 4 0"
[ "$bad" = 0 ] || { echo "check.sh: $bad bus setting(s) missing in $dtb"; exit 1; }
