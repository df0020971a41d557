print("stoqsim")
