graph [
  Network "Abilene"
  node [
    id 0
    label "New York"
    Longitude -74.01
    Latitude 40.71
  ]
  node [
    id 1
    label "Chicago"
    Longitude -87.65
    Latitude 41.85
  ]
  node [
    id 2
    label "Washington DC"
    Longitude -77.04
    Latitude 38.9
  ]
  node [
    id 3
    label "Seattle"
    Longitude -122.33
    Latitude 47.61
  ]
  node [
    id 4
    label "Sunnyvale"
    Longitude -122.04
    Latitude 37.37
  ]
  node [
    id 5
    label "Los Angeles"
    Longitude -118.24
    Latitude 34.05
  ]
  node [
    id 6
    label "Denver"
    Longitude -104.98
    Latitude 39.74
  ]
  node [
    id 7
    label "Kansas City"
    Longitude -94.63
    Latitude 39.11
  ]
  node [
    id 8
    label "Houston"
    Longitude -95.36
    Latitude 29.76
  ]
  node [
    id 9
    label "Atlanta"
    Longitude -84.39
    Latitude 33.75
  ]
  node [
    id 10
    label "Indianapolis"
    Longitude -86.16
    Latitude 39.77
  ]
  edge [
    source 0
    target 1
    dist 1146.16
  ]
  edge [
    source 0
    target 2
    dist 328.58
  ]
  edge [
    source 1
    target 10
    dist 263.4
  ]
  edge [
    source 2
    target 9
    dist 872.17
  ]
  edge [
    source 3
    target 4
    dist 1138.92
  ]
  edge [
    source 3
    target 6
    dist 1641.58
  ]
  edge [
    source 4
    target 5
    dist 503.3
  ]
  edge [
    source 4
    target 6
    dist 1504.02
  ]
  edge [
    source 5
    target 8
    dist 2207.38
  ]
  edge [
    source 6
    target 7
    dist 892.06
  ]
  edge [
    source 7
    target 8
    dist 1042.24
  ]
  edge [
    source 7
    target 10
    dist 730.85
  ]
  edge [
    source 8
    target 9
    dist 1127.88
  ]
  edge [
    source 9
    target 10
    dist 687.8
  ]
]
