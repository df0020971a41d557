graph [
  Network "Geant2012"
  node [
    id 0
    label "NL"
    Longitude 4.89
    Latitude 52.37
  ]
  node [
    id 1
    label "BE"
    Longitude 4.35
    Latitude 50.85
  ]
  node [
    id 2
    label "DK"
    Longitude 12.57
    Latitude 55.68
  ]
  node [
    id 3
    label "PL"
    Longitude 16.97
    Latitude 52.42
  ]
  node [
    id 4
    label "DE"
    Longitude 8.68
    Latitude 50.12
  ]
  node [
    id 5
    label "CZ"
    Longitude 14.42
    Latitude 50.09
  ]
  node [
    id 6
    label "LU"
    Longitude 6.13
    Latitude 49.61
  ]
  node [
    id 7
    label "FR"
    Longitude 2.35
    Latitude 48.85
  ]
  node [
    id 8
    label "CH"
    Longitude 7.45
    Latitude 46.95
  ]
  node [
    id 9
    label "IT"
    Longitude 9.19
    Latitude 45.46
  ]
  node [
    id 10
    label "BG"
    Longitude 23.32
    Latitude 42.7
  ]
  node [
    id 11
    label "RO"
    Longitude 26.11
    Latitude 44.43
  ]
  node [
    id 12
    label "TR"
    Longitude 34.91
    Latitude 39.06
  ]
  node [
    id 13
    label "GR"
    Longitude 23.72
    Latitude 37.98
  ]
  node [
    id 14
    label "CY"
    Longitude 33.37
    Latitude 35.17
  ]
  node [
    id 15
    label "IL"
    Longitude 34.75
    Latitude 31.5
  ]
  node [
    id 16
    label "MT"
    Longitude 14.43
    Latitude 35.91
  ]
  node [
    id 17
    label "MK"
    Longitude 21.43
    Latitude 42.0
  ]
  node [
    id 18
    label "ME"
    Longitude 19.26
    Latitude 42.44
  ]
  node [
    id 19
    label "HU"
    Longitude 19.04
    Latitude 47.5
  ]
  node [
    id 20
    label "SK"
    Longitude 17.11
    Latitude 48.15
  ]
  node [
    id 21
    label "PT"
    Longitude -9.13
    Latitude 38.72
  ]
  node [
    id 22
    label "ES"
    Longitude -3.7
    Latitude 40.42
  ]
  node [
    id 23
    label "RS"
    Longitude 20.47
    Latitude 44.8
  ]
  node [
    id 24
    label "HR"
    Longitude 15.98
    Latitude 45.81
  ]
  node [
    id 25
    label "SL"
    Longitude 14.51
    Latitude 46.05
  ]
  node [
    id 26
    label "AT"
    Longitude 16.37
    Latitude 48.21
  ]
  node [
    id 27
    label "LT"
    Longitude 23.9
    Latitude 54.9
  ]
  node [
    id 28
    label "RU"
    Longitude 37.62
    Latitude 55.75
  ]
  node [
    id 29
    label "IS"
    Longitude -21.9
    Latitude 64.14
  ]
  node [
    id 30
    label "IE"
    Longitude -6.27
    Latitude 53.34
  ]
  node [
    id 31
    label "UK"
    Longitude -0.13
    Latitude 51.51
  ]
  node [
    id 32
    label "NO"
    Longitude 10.0
    Latitude 62.0
  ]
  node [
    id 33
    label "SE"
    Longitude 18.06
    Latitude 59.33
  ]
  node [
    id 34
    label "FI"
    Longitude 22.27
    Latitude 60.45
  ]
  node [
    id 35
    label "EE"
    Longitude 24.75
    Latitude 59.44
  ]
  node [
    id 36
    label "LV"
    Longitude 24.11
    Latitude 56.95
  ]
  edge [
    source 0
    target 1
    dist 173.53
  ]
  edge [
    source 0
    target 2
    dist 621.04
  ]
  edge [
    source 0
    target 4
    dist 364.34
  ]
  edge [
    source 0
    target 31
    dist 357.03
  ]
  edge [
    source 0
    target 27
    dist 1280.45
  ]
  edge [
    source 1
    target 30
    dist 775.67
  ]
  edge [
    source 2
    target 29
    dist 2104.79
  ]
  edge [
    source 2
    target 32
    dist 718.59
  ]
  edge [
    source 2
    target 4
    dist 670.71
  ]
  edge [
    source 2
    target 35
    dist 837.18
  ]
  edge [
    source 2
    target 33
    dist 522.53
  ]
  edge [
    source 2
    target 28
    dist 1560.99
  ]
  edge [
    source 3
    target 4
    dist 630.2
  ]
  edge [
    source 3
    target 5
    dist 313.8
  ]
  edge [
    source 3
    target 27
    dist 533.63
  ]
  edge [
    source 4
    target 5
    dist 409.23
  ]
  edge [
    source 4
    target 6
    dist 191.48
  ]
  edge [
    source 4
    target 8
    dist 363.98
  ]
  edge [
    source 4
    target 14
    dist 2594.64
  ]
  edge [
    source 4
    target 15
    dist 2988.24
  ]
  edge [
    source 4
    target 26
    dist 597.8
  ]
  edge [
    source 4
    target 28
    dist 2021.13
  ]
  edge [
    source 5
    target 20
    dist 291.15
  ]
  edge [
    source 6
    target 7
    dist 287.25
  ]
  edge [
    source 7
    target 8
    dist 435.14
  ]
  edge [
    source 7
    target 22
    dist 1052.74
  ]
  edge [
    source 7
    target 31
    dist 343.87
  ]
  edge [
    source 8
    target 9
    dist 212.64
  ]
  edge [
    source 8
    target 22
    dist 1152.25
  ]
  edge [
    source 9
    target 22
    dist 1188.46
  ]
  edge [
    source 9
    target 16
    dist 1150.22
  ]
  edge [
    source 9
    target 26
    dist 625.6
  ]
  edge [
    source 9
    target 13
    dist 1461.84
  ]
  edge [
    source 10
    target 19
    dist 630.83
  ]
  edge [
    source 10
    target 17
    dist 173.71
  ]
  edge [
    source 10
    target 11
    dist 295.78
  ]
  edge [
    source 10
    target 12
    dist 1054.03
  ]
  edge [
    source 10
    target 13
    dist 525.82
  ]
  edge [
    source 11
    target 12
    dist 943.05
  ]
  edge [
    source 11
    target 19
    dist 643.62
  ]
  edge [
    source 13
    target 26
    dist 1283.2
  ]
  edge [
    source 14
    target 31
    dist 3219.0
  ]
  edge [
    source 15
    target 27
    dist 2739.93
  ]
  edge [
    source 18
    target 24
    dist 457.71
  ]
  edge [
    source 19
    target 23
    dist 319.12
  ]
  edge [
    source 19
    target 24
    dist 299.47
  ]
  edge [
    source 19
    target 20
    dist 161.46
  ]
  edge [
    source 20
    target 26
    dist 54.9
  ]
  edge [
    source 21
    target 22
    dist 502.45
  ]
  edge [
    source 21
    target 31
    dist 1585.99
  ]
  edge [
    source 24
    target 25
    dist 116.94
  ]
  edge [
    source 25
    target 26
    dist 278.44
  ]
  edge [
    source 27
    target 36
    dist 227.93
  ]
  edge [
    source 29
    target 31
    dist 1887.68
  ]
  edge [
    source 30
    target 31
    dist 463.67
  ]
  edge [
    source 32
    target 33
    dist 529.65
  ]
  edge [
    source 33
    target 34
    dist 265.45
  ]
  edge [
    source 35
    target 36
    dist 279.65
  ]
]
