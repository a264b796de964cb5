# Hashboard buses in config.txt (meta-raspberrypi's rpi-config writes it).
# meta-raspberrypi builds Raspberry Pi's own kernel and device trees, whose
# overlays apply, so here the buses are plain dtoverlay=/dtparam= lines
# (the Debian image merges them into its trees instead: image-build/dt/).
#   UART   PL011 /dev/ttyAMA0 on GPIO 14/15 (Pi 4: Bluetooth off)
#   I2C    /dev/i2c-1 on GPIO 2/3 at 100 kHz
#   1-wire w1-gpio on GPIO 4 (DS18B20 room probes)
#   PWM    PWM0 on GPIO 18/19 (ALT5), for fan_pwm_channel 0 and 1
# yocto-layer/scripts/parse-layer.py checks these lines for both machines.
ENABLE_UART:raspberrypi4-64 = "1"
ENABLE_UART:raspberrypi5 = "1"
ENABLE_I2C:raspberrypi4-64 = "1"
ENABLE_I2C:raspberrypi5 = "1"
HEARTH_BUS_CONFIG:raspberrypi4-64 = "dtparam=i2c_arm_baudrate=100000\ndtoverlay=w1-gpio,gpiopin=4\ndtoverlay=pwm-2chan,pin=18,func=2,pin2=19,func2=2"
HEARTH_BUS_CONFIG:raspberrypi5 = "dtparam=i2c_arm_baudrate=100000\ndtoverlay=w1-gpio,gpiopin=4\ndtoverlay=pwm-2chan,pin=18,func=2,pin2=19,func2=2"
# The Pi 4's PL011 serves Bluetooth unless disable-bt hands it to GPIO 14/15.
RPI_EXTRA_CONFIG:raspberrypi4-64 = "\ndtoverlay=disable-bt\n${HEARTH_BUS_CONFIG}\n"
# The Pi 5's Bluetooth has its own UART; uart0 on GPIO 14/15 is a dtparam.
RPI_EXTRA_CONFIG:raspberrypi5 = "\ndtparam=uart0=on\n${HEARTH_BUS_CONFIG}\n"
